"""Fill prices and fees: the slippage models and the maker/taker fee, shared by every engine."""

from __future__ import annotations

import math

from pipelines.backtest.config import SlippageConfig, SlippageModel

BPS = 1e-4


def slipped_price(price: float, qty: float, cfg: SlippageConfig, *, bar_volume: float,
                  spread: float | None = None) -> float:
    """The price a market or stop order of ``qty`` (signed; > 0 buys) pays around ``price``.

    Parameters
    ----------
    price:
        The reference price (the bar's open, or the stop price).
    qty:
        Signed quantity in base units; buys pay more, sells receive less.
    cfg:
        The slippage model.
    bar_volume:
        Base-asset volume of the fill bar (for ``volume_share``).
    spread:
        A quoted spread as a fraction of price for this bar; overrides ``cfg.spread_bps``.

    >>> slipped_price(100.0, 1.0, SlippageConfig(model="fixed_bps", bps=5), bar_volume=10.0)
    100.05
    >>> slipped_price(100.0, -2.0, SlippageConfig(model="spread", spread_bps=20), bar_volume=10.0)
    99.9
    >>> round(slipped_price(100.0, 5.0, SlippageConfig(model="volume_share", impact_bps=100), bar_volume=10.0), 9)
    100.5
    """
    side = 1.0 if qty > 0 else -1.0
    if cfg.model is SlippageModel.NONE:
        frac = 0.0
    elif cfg.model is SlippageModel.FIXED_BPS:
        frac = cfg.bps * BPS
    elif cfg.model is SlippageModel.SPREAD:
        frac = (spread if spread is not None else cfg.spread_bps * BPS) / 2.0
    else:
        share = abs(qty) / bar_volume if bar_volume > 0 else 1.0
        frac = cfg.impact_bps * BPS * share
    return price * (1.0 + side * frac)


def fill_cap(cfg: SlippageConfig, bar_volume: float) -> float:
    """Most base units one fill may take on a bar (``inf`` unless ``volume_share`` caps it).

    >>> fill_cap(SlippageConfig(model="volume_share", max_participation=0.1), 50.0)
    5.0
    >>> fill_cap(SlippageConfig(), 50.0)
    inf
    """
    if cfg.model is SlippageModel.VOLUME_SHARE and cfg.max_participation < 1.0:
        return cfg.max_participation * bar_volume if bar_volume > 0 and math.isfinite(bar_volume) else 0.0
    if cfg.model is SlippageModel.VOLUME_SHARE:
        return bar_volume if bar_volume > 0 and math.isfinite(bar_volume) else 0.0
    return math.inf


def fee(qty: float, price: float, rate: float) -> float:
    """Fee in quote currency for ``|qty| * price`` of notional at ``rate``.

    >>> fee(-2.0, 50.0, 0.001)
    0.1
    """
    return abs(qty) * price * rate
