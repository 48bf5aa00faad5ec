"""Rolling per-series trend strength, volatility estimators and liquidity measures (causal, NumPy).

Every statistic at bar ``t`` uses the ``window`` bars ending at ``t`` (inclusive); the first
``window - 1`` rows (``window`` for return-based ones) are NaN. Volatilities are annualised with
the timeframe's bars per year (365-day year, crypto trades around the clock).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cluster.schemas import BARS_PER_YEAR

TSTAT_CLIP = 100.0
_GK_C = 2.0 * math.log(2.0) - 1.0
_PARK_C = 1.0 / (4.0 * math.log(2.0))


class StatsConfig(BaseModel):
    """Window of the rolling statistics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(30, ge=3, description="Bars in each rolling statistic.")


def stats_columns(cfg: StatsConfig) -> list[str]:
    """Names of the columns :func:`series_stats` returns, in order.

    >>> stats_columns(StatsConfig(window=10))[:3]
    ['trend_slope_10', 'trend_tstat_10', 'trend_r2_10']
    """
    n = cfg.window
    return [f"trend_slope_{n}", f"trend_tstat_{n}", f"trend_r2_{n}", f"vol_cc_{n}", f"vol_parkinson_{n}",
            f"vol_gk_{n}", f"dollar_vol_{n}", f"amihud_{n}"]


def _windows(x: np.ndarray, n: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(x, n)


def _place(values: np.ndarray, length: int, n: int) -> np.ndarray:
    out = np.full(length, np.nan)
    out[n - 1:] = values
    return out


def rolling_regression(y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS of ``y`` on the bar index over each trailing window: slope, t-statistic and R².

    The t-statistic is clipped to +-100 (a perfect fit has an infinite one); it and R² are NaN
    when the window is flat.

    >>> s, t, r2 = rolling_regression(np.array([1.0, 2.0, 3.0, 5.0]), 3)
    >>> s[2:].round(6).tolist(), r2[2:].round(6).tolist()
    ([1.0, 1.5], [1.0, 0.964286])
    """
    length = y.shape[0]
    if length < n:
        nan = np.full(length, np.nan)
        return nan, nan.copy(), nan.copy()
    w = _windows(y, n)
    tc = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    stt = float(tc @ tc)
    slope = (w @ tc) / stt
    sst = ((w - w.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    ssr = np.maximum(sst - slope**2 * stt, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1.0 - ssr / sst, np.nan)
        se = np.sqrt(ssr / (n - 2) / stt)
        tstat = np.where(sst > 0, np.clip(slope / se, -TSTAT_CLIP, TSTAT_CLIP), np.nan)
    return _place(slope, length, n), _place(tstat, length, n), _place(r2, length, n)


def series_stats(arrays: Mapping[str, np.ndarray], *, timeframe: str, cfg: StatsConfig) -> dict[str, np.ndarray]:
    """Trend, volatility and liquidity columns for one series sorted by ts.

    Parameters
    ----------
    arrays:
        float64 ``open, high, low, close, volume`` arrays.
    timeframe:
        The series' timeframe (``1h``...), for annualising.
    cfg:
        The rolling window.

    Returns
    -------
    dict
        :func:`stats_columns` -> float64 arrays. Formulas (``r`` = 1-bar log return, ``A`` = bars per year):
        ``trend_slope`` OLS slope of ln(close) per bar; ``trend_tstat`` slope / its standard error;
        ``trend_r2``; ``vol_cc = std(r, ddof=1) * sqrt(A)``;
        ``vol_parkinson = sqrt(mean(ln(H/L)^2) / (4 ln 2) * A)``;
        ``vol_gk = sqrt(mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2) * A)``;
        ``dollar_vol = mean(close * volume)``; ``amihud = mean(|r| / (close * volume / 1e6))``
        (bars with zero volume are skipped).
    """
    o, h, lo, c, v = (arrays[k] for k in ("open", "high", "low", "close", "volume"))
    n = cfg.window
    length = c.shape[0]
    annual = BARS_PER_YEAR[timeframe]
    slope, tstat, r2 = rolling_regression(np.log(c), n)
    ret = np.full(length, np.nan)
    ret[1:] = np.log(c[1:] / c[:-1])
    hl2 = np.log(h / lo) ** 2
    co2 = np.log(c / o) ** 2
    dv = c * v
    with np.errstate(divide="ignore", invalid="ignore"):
        illiq = np.where(dv > 0, np.abs(ret) / (dv / 1e6), np.nan)
    out = {name: np.full(length, np.nan) for name in stats_columns(cfg)}
    out[f"trend_slope_{n}"], out[f"trend_tstat_{n}"], out[f"trend_r2_{n}"] = slope, tstat, r2
    if length >= n:
        out[f"vol_cc_{n}"] = _place(_windows(ret, n).std(axis=1, ddof=1) * math.sqrt(annual), length, n)
        out[f"vol_parkinson_{n}"] = _place(np.sqrt(_windows(hl2, n).mean(axis=1) * _PARK_C * annual), length, n)
        gk = _windows(0.5 * hl2 - _GK_C * co2, n).mean(axis=1)
        out[f"vol_gk_{n}"] = _place(np.sqrt(np.maximum(gk, 0.0) * annual), length, n)
        out[f"dollar_vol_{n}"] = _place(_windows(dv, n).mean(axis=1), length, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-zero-volume windows: mean of nothing
            amihud = _place(np.nanmean(_windows(illiq, n), axis=1), length, n)
        amihud[:n] = np.nan  # the first window lacks its first return
        out[f"amihud_{n}"] = amihud
    return out
