"""Technical indicators per symbol and timeframe, causally: TA-Lib where it has them, VWAP/TWAP here.

Column names are ``<name>_<params>`` in lower case (``ema_20``, ``rsi_14``, ``macd_12_26_9``...),
a contract later issues build on (docs/features.md lists every column with its formula).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import talib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cluster.errors import ConfigError, DataError
from cluster.schemas import require_columns

CANDLE_COLUMNS = ("symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
SESSION_MS = 86_400_000
INDICATOR_NAMES: tuple[str, ...] = (
    "log_ret", "ema", "rsi", "macd", "bbands", "atr", "adx", "obv", "vwap", "twap",
)


class CandleValueError(DataError):
    """A candle holds a NaN, infinite or negative value; the row is named.

    Parameters
    ----------
    row:
        0-based position of the offending row in the frame given to the feature functions.
    symbol, ts, column, value:
        Where the bad value is and what it was.
    """

    def __init__(self, message: str, *, row: int, symbol: str, ts: int, column: str, value: float) -> None:
        super().__init__(message)
        self.row = row
        self.symbol = symbol
        self.ts = ts
        self.column = column
        self.value = value


class IndicatorConfig(BaseModel):
    """Which indicators to compute and their periods."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    indicators: tuple[str, ...] = Field(
        INDICATOR_NAMES, min_length=1, description=f"Indicator families to compute: {', '.join(INDICATOR_NAMES)}."
    )
    ema_periods: tuple[int, ...] = Field((20, 50), min_length=1)
    rsi_period: int = Field(14, ge=2)
    macd: tuple[int, int, int] = (12, 26, 9)
    bollinger: tuple[int, float] = (20, 2.0)
    atr_period: int = Field(14, ge=2)
    adx_period: int = Field(14, ge=2)
    vwap_rolling_bars: tuple[int, ...] = Field(
        (20,), description="Rolling windows (bars) for vwap_roll_<n> and twap_roll_<n>; may be empty."
    )

    @field_validator("indicators")
    @classmethod
    def _known_indicators(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in INDICATOR_NAMES]
        if unknown:
            raise ValueError(f"unknown indicator(s) {unknown}; valid names: {', '.join(INDICATOR_NAMES)}")
        return value

    @field_validator("macd")
    @classmethod
    def _fast_below_slow(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        fast, slow, signal = value
        if not 2 <= fast < slow or signal < 2:
            raise ValueError("macd needs 2 <= fast < slow and signal >= 2")
        return value

    @field_validator("ema_periods", "vwap_rolling_bars")
    @classmethod
    def _periods_at_least_two(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(p < 2 for p in value):
            raise ValueError("periods must be >= 2")
        return value


def indicator_config_from(data: Mapping[str, Any]) -> IndicatorConfig:
    """Build an :class:`IndicatorConfig` from plain data, raising :class:`ConfigError` when it is invalid.

    >>> indicator_config_from({"indicators": ["ema", "foo"]})
    Traceback (most recent call last):
    ...
    cluster.errors.ConfigError: invalid indicator config: indicators: Value error, unknown indicator(s) ['foo']; ...
    """
    try:
        return IndicatorConfig.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid indicator config: {problems}") from exc


def _k(value: float) -> str:
    return f"{value:g}"


def indicator_columns(cfg: IndicatorConfig) -> list[str]:
    """The names of the columns :func:`add_indicators` appends, in order.

    >>> indicator_columns(IndicatorConfig(indicators=("ema", "rsi"), ema_periods=(9,)))
    ['ema_9', 'rsi_14']
    """
    on = set(cfg.indicators)
    fast, slow, signal = cfg.macd
    n, k = cfg.bollinger
    m = f"{fast}_{slow}_{signal}"
    b = f"{n}_{_k(k)}"
    cols: list[str] = []
    if "log_ret" in on:
        cols.append("log_ret_1")
    if "ema" in on:
        cols += [f"ema_{p}" for p in cfg.ema_periods]
    if "rsi" in on:
        cols.append(f"rsi_{cfg.rsi_period}")
    if "macd" in on:
        cols += [f"macd_{m}", f"macd_signal_{m}", f"macd_hist_{m}"]
    if "bbands" in on:
        cols += [f"bb_upper_{b}", f"bb_middle_{b}", f"bb_lower_{b}", f"bb_pctb_{b}", f"bb_width_{b}"]
    if "atr" in on:
        cols += [f"atr_{cfg.atr_period}", f"atr_pct_{cfg.atr_period}"]
    if "adx" in on:
        p = cfg.adx_period
        cols += [f"adx_{p}", f"plus_di_{p}", f"minus_di_{p}"]
    if "obv" in on:
        cols.append("obv")
    for name in ("vwap", "twap"):
        if name in on:
            cols.append(f"{name}_1d")
            cols += [f"{name}_roll_{w}" for w in cfg.vwap_rolling_bars]
    return cols


def check_candles(frame: pl.DataFrame) -> None:
    """Reject NaN, infinite or non-positive prices and NaN, infinite or negative volumes.

    Requires columns: symbol, ts, open, high, low, close, volume.

    Raises
    ------
    CandleValueError
        For the first offending row (0-based position, symbol, ts, column and value).
    """
    require_columns(frame.columns, {"symbol", "ts", *PRICE_COLUMNS, "volume"})
    checks = [((pl.col(c).is_null() | ~pl.col(c).is_finite() | (pl.col(c) <= 0)), c) for c in PRICE_COLUMNS]
    checks.append(((pl.col("volume").is_null() | ~pl.col("volume").is_finite() | (pl.col("volume") < 0)), "volume"))
    bad = frame.select(pl.any_horizontal([e for e, _ in checks]).fill_null(True).arg_true()).to_series()
    if bad.len() == 0:
        return
    row = int(bad[0])
    rec = frame.row(row, named=True)
    column = next(c for c in (*PRICE_COLUMNS, "volume")
                  if rec[c] is None or not np.isfinite(rec[c]) or rec[c] < 0 or (c != "volume" and rec[c] <= 0))
    value = float("nan") if rec[column] is None else float(rec[column])
    raise CandleValueError(
        f"candle row {row} ({rec['symbol']} ts={rec['ts']}): {column}={value} is not a valid "
        f"{'volume (finite, >= 0)' if column == 'volume' else 'price (finite, > 0)'}",
        row=row, symbol=str(rec["symbol"]), ts=int(rec["ts"]), column=column, value=value,
    )


def session_vwap_twap(ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                      open_: np.ndarray, volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VWAP and TWAP anchored at each UTC day (00:00), cumulative within the day.

    ``vwap = sum(tp * volume) / sum(volume)`` with ``tp = (high + low + close) / 3``;
    ``twap = mean((open + high + low + close) / 4)``, both over the day's bars up to and including
    the current one. VWAP is NaN while the day's volume is still 0.

    >>> v, t = session_vwap_twap(np.array([0, 60_000, 86_400_000]), np.array([3., 6., 9.]),
    ...                          np.array([1., 2., 3.]), np.array([2., 4., 6.]), np.array([2., 4., 6.]),
    ...                          np.array([1., 3., 1.]))
    >>> v.tolist(), t.tolist()
    ([2.0, 3.5, 6.0], [2.0, 3.0, 6.0])
    """
    day = ts // SESSION_MS
    tp = (high + low + close) / 3.0
    ohlc4 = (open_ + high + low + close) / 4.0
    frame = pl.DataFrame({"day": day, "pv": tp * volume, "v": volume, "p4": ohlc4})
    out = frame.select(
        pv=pl.col("pv").cum_sum().over("day"),
        v=pl.col("v").cum_sum().over("day"),
        p4=pl.col("p4").cum_sum().over("day"),
        n=pl.col("p4").cum_count().over("day"),
    )
    vol = out.get_column("v").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = np.where(vol > 0, out.get_column("pv").to_numpy() / vol, np.nan)
    twap = out.get_column("p4").to_numpy() / out.get_column("n").to_numpy()
    return vwap, twap


def rolling_vwap_twap(high: np.ndarray, low: np.ndarray, close: np.ndarray, open_: np.ndarray,
                      volume: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """VWAP and TWAP over the last ``window`` bars (the current one included); NaN for the first ``window-1``.

    >>> v, t = rolling_vwap_twap(np.array([3., 6., 9.]), np.array([1., 2., 3.]), np.array([2., 4., 6.]),
    ...                          np.array([2., 4., 6.]), np.array([1., 3., 1.]), 2)
    >>> v.tolist()[1:], t.tolist()[1:]
    ([3.5, 4.5], [3.0, 5.0])
    """
    tp = (high + low + close) / 3.0
    ohlc4 = (open_ + high + low + close) / 4.0
    n = tp.shape[0]
    vwap = np.full(n, np.nan)
    twap = np.full(n, np.nan)
    if n >= window:
        pv = np.lib.stride_tricks.sliding_window_view(tp * volume, window).sum(axis=1)
        v = np.lib.stride_tricks.sliding_window_view(volume, window).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            vwap[window - 1:] = np.where(v > 0, pv / v, np.nan)
        twap[window - 1:] = np.lib.stride_tricks.sliding_window_view(ohlc4, window).mean(axis=1)
    return vwap, twap


def series_indicators(arrays: Mapping[str, np.ndarray], cfg: IndicatorConfig) -> dict[str, np.ndarray]:
    """Indicator arrays for one (exchange, symbol, timeframe) series sorted by ts.

    Parameters
    ----------
    arrays:
        float64 arrays ``open, high, low, close, volume`` and int64 ``ts`` of equal length.
    cfg:
        What to compute.

    Returns
    -------
    dict
        Column name -> float64 array, keys in :func:`indicator_columns` order. Warm-up rows are NaN.
    """
    o, h, lo, c, v, ts = (arrays[k] for k in ("open", "high", "low", "close", "volume", "ts"))
    on = set(cfg.indicators)
    out: dict[str, np.ndarray] = {}
    if "log_ret" in on:
        log_ret = np.full(c.shape, np.nan)
        log_ret[1:] = np.log(c[1:] / c[:-1])
        out["log_ret_1"] = log_ret
    if "ema" in on:
        for p in cfg.ema_periods:
            out[f"ema_{p}"] = talib.EMA(c, timeperiod=p)
    if "rsi" in on:
        out[f"rsi_{cfg.rsi_period}"] = talib.RSI(c, timeperiod=cfg.rsi_period)
    if "macd" in on:
        fast, slow, signal = cfg.macd
        m = f"{fast}_{slow}_{signal}"
        line, sig, hist = talib.MACD(c, fastperiod=fast, slowperiod=slow, signalperiod=signal)
        out.update({f"macd_{m}": line, f"macd_signal_{m}": sig, f"macd_hist_{m}": hist})
    if "bbands" in on:
        n, k = cfg.bollinger
        b = f"{n}_{_k(k)}"
        upper, middle, lower = talib.BBANDS(c, timeperiod=n, nbdevup=k, nbdevdn=k, matype=talib.MA_Type.SMA)
        with np.errstate(divide="ignore", invalid="ignore"):
            width = upper - lower
            pctb = np.where(width > 0, (c - lower) / width, np.nan)
            bandwidth = width / middle
        out.update({f"bb_upper_{b}": upper, f"bb_middle_{b}": middle, f"bb_lower_{b}": lower,
                    f"bb_pctb_{b}": pctb, f"bb_width_{b}": bandwidth})
    if "atr" in on:
        atr = talib.ATR(h, lo, c, timeperiod=cfg.atr_period)
        out[f"atr_{cfg.atr_period}"] = atr
        out[f"atr_pct_{cfg.atr_period}"] = atr / c
    if "adx" in on:
        p = cfg.adx_period
        out[f"adx_{p}"] = talib.ADX(h, lo, c, timeperiod=p)
        out[f"plus_di_{p}"] = talib.PLUS_DI(h, lo, c, timeperiod=p)
        out[f"minus_di_{p}"] = talib.MINUS_DI(h, lo, c, timeperiod=p)
    if "obv" in on:
        out["obv"] = talib.OBV(c, v)
    if "vwap" in on or "twap" in on:
        vw, tw = session_vwap_twap(ts, h, lo, c, o, v)
        rolled = {w: rolling_vwap_twap(h, lo, c, o, v, w) for w in cfg.vwap_rolling_bars}
        for name, idx, session in (("vwap", 0, vw), ("twap", 1, tw)):
            if name in on:
                out[f"{name}_1d"] = session
                out.update({f"{name}_roll_{w}": rolled[w][idx] for w in cfg.vwap_rolling_bars})
    return out


def series_arrays(group: pl.DataFrame) -> dict[str, np.ndarray]:
    """The float64 OHLCV arrays and int64 ts of one sorted series (the input of the series functions)."""
    arrays = {k: group.get_column(k).to_numpy().astype(np.float64) for k in (*PRICE_COLUMNS, "volume")}
    arrays["ts"] = group.get_column("ts").to_numpy().astype(np.int64)
    return arrays


def series_keys(frame: pl.DataFrame) -> list[str]:
    """The columns that identify one series: (exchange,) symbol, timeframe."""
    return [c for c in ("exchange", "symbol", "timeframe") if c in frame.columns]


def add_indicators(frame: pl.DataFrame, cfg: IndicatorConfig | None = None) -> pl.DataFrame:
    """Append indicator columns per (exchange, symbol, timeframe), sorted by those keys and ts.

    Requires columns: symbol, timeframe, ts, open, high, low, close, volume (``exchange`` is used
    when present). Adds :func:`indicator_columns`. Values at a bar use only that bar and earlier
    ones (causal); warm-up rows are null. The input frame is not modified.

    Raises
    ------
    CandleValueError
        When a price is NaN, infinite or <= 0, or a volume is NaN, infinite or < 0.
    """
    cfg = cfg or IndicatorConfig()
    require_columns(frame.columns, CANDLE_COLUMNS)
    check_candles(frame)
    keys = series_keys(frame)
    ordered = frame.sort(*keys, "ts")
    parts = []
    for group in ordered.partition_by(keys, maintain_order=True):
        values = series_indicators(series_arrays(group), cfg)
        parts.append(group.with_columns(
            pl.Series(name, vals, dtype=pl.Float64, nan_to_null=True) for name, vals in values.items()
        ))
    if not parts:
        return ordered.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in indicator_columns(cfg))
    return pl.concat(parts, how="vertical")
