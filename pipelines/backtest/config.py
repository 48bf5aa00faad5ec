"""Typed settings of one backtest run: cash, fees, slippage, latency, shorting and fill conventions."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SlippageModel(StrEnum):
    """How a fill price moves away from the reference price."""

    NONE = "none"
    FIXED_BPS = "fixed_bps"  # price * (1 +- bps / 1e4)
    SPREAD = "spread"  # half the quoted spread (``spread_bps`` or a ``spread`` column)
    VOLUME_SHARE = "volume_share"  # impact grows with quantity / bar volume; capped participation


class Compat(StrEnum):
    """Fill and sizing conventions of the simulation."""

    NATIVE = "native"  # fractional sizes, fees and slippage as configured
    BACKTESTINGPY = "backtestingpy"  # backtesting.py 0.6: whole units, next-open fills, fee on both legs


class SlippageConfig(BaseModel):
    """Parameters of the slippage model.

    Parameters
    ----------
    model:
        Which model to apply to market and stop fills (limit fills are never worse than the limit).
    bps:
        For ``fixed_bps``: the price moves by ``bps`` basis points against the order (5 = 0.05%).
    spread_bps:
        For ``spread``: the quoted bid-ask spread in basis points; a fill pays half of it.
    impact_bps:
        For ``volume_share``: basis points paid per 100% of bar volume taken (linear impact).
    max_participation:
        For ``volume_share``: the largest share of a bar's volume one fill may take (0.1 = 10%).
        The rest of the order stays open and fills on later bars.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: SlippageModel = SlippageModel.NONE
    bps: float = Field(0.0, ge=0, description="fixed slippage in basis points")
    spread_bps: float = Field(0.0, ge=0, description="quoted spread in basis points")
    impact_bps: float = Field(0.0, ge=0, description="impact in bps per 100% of bar volume")
    max_participation: float = Field(1.0, gt=0, le=1, description="cap on fill quantity / bar volume")


class BacktestConfig(BaseModel):
    """How to simulate: account, costs and conventions.

    Parameters
    ----------
    cash:
        Starting cash in quote currency (USDT).
    commission:
        Taker fee as a fraction of notional (0.001 = 0.1%), charged on market and stop fills.
    maker_commission:
        Maker fee for limit fills; ``None`` means the taker fee.
    slippage:
        The slippage model (see :class:`SlippageConfig`).
    latency_bars:
        Orders become active this many bars after they are placed; 0 fills a market order at
        the open of the bar after the signal (never on the signal bar itself).
    allow_short:
        Allow negative positions. Long-only by default: sells beyond holdings are rejected.
    compat:
        ``backtestingpy`` reproduces backtesting.py's whole-unit sizing (single symbol only).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cash: float = Field(100_000.0, gt=0, description="starting cash, quote currency")
    commission: float = Field(0.001, ge=0, lt=0.1, description="taker fee, fraction of notional")
    maker_commission: float | None = Field(None, ge=-0.01, lt=0.1, description="maker fee; None = taker fee")
    slippage: SlippageConfig = SlippageConfig()
    latency_bars: int = Field(0, ge=0, le=100, description="extra bars before an order is active")
    allow_short: bool = Field(False, description="allow negative positions")
    compat: Compat = Compat.NATIVE

    @model_validator(mode="after")
    def _compat_is_plain(self) -> BacktestConfig:
        if self.compat is Compat.BACKTESTINGPY and (
            self.slippage.model is not SlippageModel.NONE or self.latency_bars
        ):
            raise ValueError("compat=backtestingpy takes no slippage model and no latency")
        return self

    @property
    def maker_fee(self) -> float:
        """The fee applied to limit fills."""
        return self.commission if self.maker_commission is None else self.maker_commission
