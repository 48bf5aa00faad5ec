"""Anomaly scores per bar (robust z-scores, volume spikes, price gaps) and the ``anomalies`` rows.

Scores at bar ``t`` compare the bar with the ``window`` bars *before* it (``t - window .. t - 1``),
so a spike never inflates its own baseline:

* ``ret_rz_<w>``: robust z-score of the 1-bar log return, ``(r_t - median) / (1.4826 * MAD)``;
* ``volume_rz_<w>``: the same on ``ln(1 + volume)``;
* ``volume_spike_<w>``: ``volume_t / median(volume)``;
* ``gap_pct``: ``open_t / close_{t-1} - 1``.

A zero MAD (or median volume) leaves the score NaN: there is no spread to measure against.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cluster.schemas import require_columns

MAD_TO_SIGMA = 1.4826
ANOMALY_KINDS: tuple[str, ...] = ("return_outlier", "volume_outlier", "volume_spike", "price_gap",
                                  "exchange_divergence")


class AnomalyConfig(BaseModel):
    """Windows and thresholds of the anomaly detectors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(50, ge=5, description="Bars in the robust baseline (before the scored bar).")
    z_threshold: float = Field(6.0, gt=0, description="|robust z| at or above which a bar is an outlier.")
    spike_ratio: float = Field(5.0, gt=1, description="volume / median volume at or above which a bar spikes.")
    gap_threshold: float = Field(0.02, gt=0, description="|open / previous close - 1| that counts as a gap.")
    divergence_threshold: float = Field(
        0.005, gt=0, description="|close / cross-exchange median close - 1| that counts as a divergence."
    )


def anomaly_columns(cfg: AnomalyConfig) -> list[str]:
    """Names of the per-bar score columns, in order.

    >>> anomaly_columns(AnomalyConfig(window=20))
    ['ret_rz_20', 'volume_rz_20', 'volume_spike_20', 'gap_pct']
    """
    w = cfg.window
    return [f"ret_rz_{w}", f"volume_rz_{w}", f"volume_spike_{w}", "gap_pct"]


def _median_sorted(s: np.ndarray) -> np.ndarray:
    """Row medians of row-sorted ``s`` (equal to ``np.median(..., axis=1)``)."""
    w = s.shape[1]
    return s[:, w // 2] if w % 2 else (s[:, w // 2 - 1] + s[:, w // 2]) / 2


def _mad_sorted(s: np.ndarray, med: np.ndarray) -> np.ndarray:
    """Row medians of ``abs(s - med)`` for row-sorted ``s``, by merging the two sorted sides of the median.

    Equal to ``np.median(np.abs(s - med[:, None]), axis=1)`` but without a second partition: the
    deviations left of the median grow leftwards and those right of it grow rightwards, so the
    smallest ``w // 2 + 1`` of them come out of a two-pointer merge in order.
    """
    n, w = s.shape
    rows = np.arange(n)
    i = np.full(n, (w - 1) // 2)
    j = i + 1
    picked = []
    for _ in range(w // 2 + 1):
        left = np.where(i >= 0, med - s[rows, np.maximum(i, 0)], np.inf)
        right = np.where(j < w, s[rows, np.minimum(j, w - 1)] - med, np.inf)
        take_left = left <= right
        picked.append(np.where(take_left, left, right))
        i = np.where(take_left, i - 1, i)
        j = np.where(take_left, j, j + 1)
    return picked[w // 2] if w % 2 else (picked[w // 2 - 1] + picked[w // 2]) / 2


def _trailing_sorted(x: np.ndarray, window: int) -> np.ndarray:
    """Row ``k`` holds the ``window`` values before ``x[window + k]``, sorted."""
    return np.sort(np.lib.stride_tricks.sliding_window_view(x[:-1], window), axis=1)


def _robust_z(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    window = s.shape[1]
    if x.shape[0] <= window:
        return out
    med = _median_sorted(s)
    mad = _mad_sorted(s, med)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(mad > 0, (x[window:] - med) / (MAD_TO_SIGMA * mad), np.nan)
    out[window:] = np.where(np.isnan(s).any(axis=1), np.nan, z)
    return out


def robust_z_trailing(x: np.ndarray, window: int) -> np.ndarray:
    """Robust z-score of each value against the ``window`` values before it; NaN during warm-up.

    >>> robust_z_trailing(np.array([1.0, 2.0, 3.0, 4.0, 10.0]), 3).round(4).tolist()
    [nan, nan, nan, 1.349, 4.7214]
    """
    if x.shape[0] <= window:
        return np.full(x.shape[0], np.nan)
    return _robust_z(x, _trailing_sorted(x, window))


def series_anomaly_scores(arrays: Mapping[str, np.ndarray], cfg: AnomalyConfig) -> dict[str, np.ndarray]:
    """The :func:`anomaly_columns` for one series sorted by ts (float64 ``open, close, volume``)."""
    o, c, v = arrays["open"], arrays["close"], arrays["volume"]
    w = cfg.window
    length = c.shape[0]
    ret = np.full(length, np.nan)
    ret[1:] = np.log(c[1:] / c[:-1])
    spike = np.full(length, np.nan)
    volume_rz = np.full(length, np.nan)
    if length > w:
        sorted_v = _trailing_sorted(v, w)
        med = _median_sorted(sorted_v)
        with np.errstate(divide="ignore", invalid="ignore"):
            spike[w:] = np.where(med > 0, v[w:] / med, np.nan)
        # log1p is monotonic, so the sorted log volumes are log1p of the sorted volumes
        volume_rz = _robust_z(np.log1p(v), np.log1p(sorted_v))
    gap = np.full(length, np.nan)
    gap[1:] = o[1:] / c[:-1] - 1.0
    return {
        f"ret_rz_{w}": robust_z_trailing(ret, w),
        f"volume_rz_{w}": volume_rz,
        f"volume_spike_{w}": spike,
        "gap_pct": gap,
    }


_SCHEMA = {"exchange": pl.String, "symbol": pl.String, "timeframe": pl.String, "ts": pl.Int64,
           "kind": pl.String, "score": pl.Float64, "explanation": pl.String}


def detect_anomalies(features: pl.DataFrame, cfg: AnomalyConfig) -> pl.DataFrame:
    """One row per detected anomaly: exchange, symbol, timeframe, ts, kind, score, explanation.

    Requires columns: symbol, timeframe, ts, close, and :func:`anomaly_columns` (``exchange`` is
    optional; ``""`` when absent). Kinds: ``return_outlier`` (score = robust z of the return),
    ``volume_outlier`` (robust z of ln(1 + volume)), ``volume_spike`` (volume / median volume),
    ``price_gap`` (gap in %), ``exchange_divergence`` (close vs the median close of the same
    symbol, timeframe and ts on the other stored exchanges, in %; only with 2+ exchanges).
    Sorted by ts, symbol, kind.
    """
    w = cfg.window
    rz, vz, spike = f"ret_rz_{w}", f"volume_rz_{w}", f"volume_spike_{w}"
    require_columns(features.columns, {"symbol", "timeframe", "ts", "close", rz, vz, spike, "gap_pct"})
    frame = features if "exchange" in features.columns else features.with_columns(exchange=pl.lit(""))
    keys = ["exchange", "symbol", "timeframe", "ts"]
    rules = [
        ("return_outlier", pl.col(rz), pl.col(rz).abs() >= cfg.z_threshold,
         pl.format("1-bar return is {} robust sigmas from its {}-bar median", pl.col(rz).round(2), pl.lit(w))),
        ("volume_outlier", pl.col(vz), pl.col(vz) >= cfg.z_threshold,
         pl.format("log volume is {} robust sigmas above its {}-bar median", pl.col(vz).round(2), pl.lit(w))),
        ("volume_spike", pl.col(spike), pl.col(spike) >= cfg.spike_ratio,
         pl.format("volume is {}x its {}-bar median", pl.col(spike).round(2), pl.lit(w))),
        ("price_gap", pl.col("gap_pct") * 100, pl.col("gap_pct").abs() >= cfg.gap_threshold,
         pl.format("open is {}% away from the previous close", (pl.col("gap_pct") * 100).round(3))),
    ]
    parts = [
        frame.filter(cond.fill_null(False)).select(
            *keys, kind=pl.lit(kind), score=score.cast(pl.Float64), explanation=text.cast(pl.String)
        )
        for kind, score, cond, text in rules
    ]
    parts.append(_divergences(frame, cfg))
    return pl.concat([p.cast(_SCHEMA) for p in parts], how="vertical").sort("ts", "symbol", "kind", "exchange")  # type: ignore[arg-type]


def _divergences(frame: pl.DataFrame, cfg: AnomalyConfig) -> pl.DataFrame:
    over = ["symbol", "timeframe", "ts"]
    multi = frame.select("exchange", *over, "close").with_columns(
        n=pl.len().over(over), med=pl.col("close").median().over(over)
    ).filter(pl.col("n") >= 2)
    div = (pl.col("close") / pl.col("med") - 1.0)
    return multi.filter(div.abs() >= cfg.divergence_threshold).select(
        "exchange", *over, kind=pl.lit("exchange_divergence"), score=div * 100,
        explanation=pl.format("close {} is {}% from the median close {} of {} exchanges", pl.col("close"),
                              (div * 100).round(3), pl.col("med"), pl.col("n")),
    )
