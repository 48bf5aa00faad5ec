"""The model's design matrix: scale-free features derived from the analytics feature frame.

Raw prices and volumes are never model inputs (they do not compare across symbols); ratios,
oscillators and z-scores are. Sentiment columns join only when a sentiment frame is given.
"""

from __future__ import annotations

import polars as pl

from cluster.schemas import require_columns

BASE_REQUIRED = frozenset({"symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "atr_14",
                           "ema_20", "ema_50", "bb_pctb_20_2"})

# name -> expression over the feature frame; each is used when its inputs exist.
_DERIVED: dict[str, tuple[tuple[str, ...], pl.Expr]] = {
    "ret_1": (("log_ret_1",), pl.col("log_ret_1")),
    "rsi": (("rsi_14",), (pl.col("rsi_14") - 50) / 50),
    "macd_hist_atr": (("macd_hist_12_26_9", "atr_14"), pl.col("macd_hist_12_26_9") / pl.col("atr_14")),
    "bb_pctb": (("bb_pctb_20_2",), pl.col("bb_pctb_20_2")),
    "bb_width": (("bb_width_20_2",), pl.col("bb_width_20_2")),
    "atr_pct": (("atr_pct_14",), pl.col("atr_pct_14")),
    "adx": (("adx_14",), pl.col("adx_14") / 100),
    "di_spread": (("plus_di_14", "minus_di_14"), (pl.col("plus_di_14") - pl.col("minus_di_14")) / 100),
    "close_ema20": (("ema_20",), pl.col("close") / pl.col("ema_20") - 1),
    "close_ema50": (("ema_50",), pl.col("close") / pl.col("ema_50") - 1),
    "close_vwap20": (("vwap_roll_20",), pl.col("close") / pl.col("vwap_roll_20") - 1),
    "trend_tstat": (("trend_tstat_30",), pl.col("trend_tstat_30")),
    "trend_r2": (("trend_r2_30",), pl.col("trend_r2_30")),
    "vol_cc": (("vol_cc_30",), pl.col("vol_cc_30")),
    "vol_ratio": (("vol_parkinson_30", "vol_cc_30"), pl.col("vol_parkinson_30") / pl.col("vol_cc_30")),
    "ret_rz": (("ret_rz_50",), pl.col("ret_rz_50")),
    "volume_rz": (("volume_rz_50",), pl.col("volume_rz_50")),
    "volume_spike": (("volume_spike_50",), pl.col("volume_spike_50")),
    "pattern_score": (("pattern_score",), pl.col("pattern_score").cast(pl.Float64)),
    "corr_ref": (("corr_ref_30",), pl.col("corr_ref_30")),
    "beta_ref": (("beta_ref_30",), pl.col("beta_ref_30")),
}
STAT_FEATURES: tuple[str, ...] = ("z_momentum", "z_trend", "z_mean_reversion", "stat_score")
SENTIMENT_FEATURES: tuple[str, ...] = ("sentiment_score", "sentiment_n")


def add_model_features(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Append ``f_<name>`` columns for every derivable feature; return the frame and their names.

    Requires :data:`BASE_REQUIRED`; optional inputs (analytics stats, cross-asset) add features
    when present. Infinite values become null.
    """
    require_columns(frame.columns, BASE_REQUIRED)
    have = set(frame.columns)
    names = [n for n, (needs, _) in _DERIVED.items() if set(needs) <= have]
    out = frame.with_columns(_DERIVED[n][1].cast(pl.Float64).alias(f"f_{n}") for n in names)
    out = out.with_columns(
        pl.when(pl.col(f"f_{n}").is_infinite()).then(None).otherwise(pl.col(f"f_{n}")).fill_nan(None)
        .alias(f"f_{n}") for n in names
    )
    return out, [f"f_{n}" for n in names]


def join_sentiment(frame: pl.DataFrame, sentiment: pl.DataFrame | None) -> tuple[pl.DataFrame, bool]:
    """As-of join sentiment aggregates (symbol, ts, sentiment_score, sentiment_n) onto ``frame``.

    Each bar takes the newest aggregate with ``ts`` at or before its own (backward, per symbol),
    so the join is causal. Returns the frame and whether any bar received a sentiment value.
    """
    if sentiment is None or sentiment.height == 0:
        return frame, False
    require_columns(sentiment.columns, {"symbol", "ts", *SENTIMENT_FEATURES}, what="sentiment")
    right = sentiment.select("symbol", pl.col("ts").cast(pl.Int64),
                             *(pl.col(c).cast(pl.Float64) for c in SENTIMENT_FEATURES)).sort("ts")
    joined = frame.drop([c for c in SENTIMENT_FEATURES if c in frame.columns]).sort("ts").join_asof(
        right, on="ts", by="symbol", strategy="backward", check_sortedness=False).sort("symbol", "ts")
    used = joined.get_column("sentiment_score").drop_nulls().len() > 0
    return joined, used
