"""Technical indicators computed with TA-Lib, per symbol and timeframe, causally.

Column names are ``<name>_<params>`` in lower case (``ema_20``, ``rsi_14``, ``macd_12_26_9``...),
a contract later issues build on (docs/features.md).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import talib
from pydantic import BaseModel, ConfigDict, Field

from cluster.schemas import require_columns

CANDLE_COLUMNS = ("symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")


class IndicatorConfig(BaseModel):
    """Which indicators to compute and their periods."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ema_periods: tuple[int, ...] = Field((20, 50), min_length=1)
    rsi_period: int = Field(14, ge=2)
    macd: tuple[int, int, int] = (12, 26, 9)
    bollinger: tuple[int, float] = (20, 2.0)
    atr_period: int = Field(14, ge=2)


def indicator_columns(cfg: IndicatorConfig) -> list[str]:
    """The names of the columns :func:`add_indicators` appends, in order."""
    fast, slow, signal = cfg.macd
    n, k = cfg.bollinger
    kk = f"{k:g}"
    return [
        "log_ret_1",
        *(f"ema_{p}" for p in cfg.ema_periods),
        f"rsi_{cfg.rsi_period}",
        f"macd_{fast}_{slow}_{signal}",
        f"macd_signal_{fast}_{slow}_{signal}",
        f"macd_hist_{fast}_{slow}_{signal}",
        f"bb_upper_{n}_{kk}",
        f"bb_middle_{n}_{kk}",
        f"bb_lower_{n}_{kk}",
        f"atr_{cfg.atr_period}",
    ]


def _series_indicators(group: pl.DataFrame, cfg: IndicatorConfig) -> dict[str, np.ndarray]:
    close = group.get_column("close").to_numpy().astype(np.float64)
    high = group.get_column("high").to_numpy().astype(np.float64)
    low = group.get_column("low").to_numpy().astype(np.float64)
    fast, slow, signal = cfg.macd
    n, k = cfg.bollinger
    macd, macd_signal, macd_hist = talib.MACD(close, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    upper, middle, lower = talib.BBANDS(close, timeperiod=n, nbdevup=k, nbdevdn=k, matype=0)
    log_ret = np.full(close.shape, np.nan)
    log_ret[1:] = np.log(close[1:] / close[:-1])
    values = [
        log_ret,
        *(talib.EMA(close, timeperiod=p) for p in cfg.ema_periods),
        talib.RSI(close, timeperiod=cfg.rsi_period),
        macd,
        macd_signal,
        macd_hist,
        upper,
        middle,
        lower,
        talib.ATR(high, low, close, timeperiod=cfg.atr_period),
    ]
    return dict(zip(indicator_columns(cfg), values, strict=True))


def add_indicators(frame: pl.DataFrame, cfg: IndicatorConfig | None = None) -> pl.DataFrame:
    """Append indicator columns per (symbol, timeframe), sorted by symbol, timeframe, ts.

    Requires columns: symbol, timeframe, ts, open, high, low, close, volume. Adds
    :func:`indicator_columns`. Values at a bar use only that bar and earlier ones (causal);
    warm-up rows are null. The input frame is not modified.
    """
    cfg = cfg or IndicatorConfig()
    require_columns(frame.columns, CANDLE_COLUMNS)
    ordered = frame.sort("symbol", "timeframe", "ts")
    parts = []
    for group in ordered.partition_by("symbol", "timeframe", maintain_order=True):
        values = _series_indicators(group, cfg)
        parts.append(group.with_columns(
            pl.Series(name, vals, dtype=pl.Float64, nan_to_null=True) for name, vals in values.items()
        ))
    if not parts:
        return ordered.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in indicator_columns(cfg))
    return pl.concat(parts, how="vertical")
