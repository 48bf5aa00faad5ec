"""Composes the per-series feature set: indicators, candlestick patterns, market stats, anomaly scores.

``build_features(frame, cfg)`` is the one pure function the Ray Data pipeline maps over
(exchange, symbol, timeframe) partitions; cross-asset columns need the whole universe and are
added afterwards with :func:`pipelines.cross_asset.add_cross_asset`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cluster.errors import ConfigError
from cluster.schemas import require_columns
from pipelines.anomalies import AnomalyConfig, anomaly_columns, series_anomaly_scores
from pipelines.confidence import ConfidenceConfig
from pipelines.cross_asset import CrossAssetConfig, add_cross_asset, cross_asset_columns, reference_returns
from pipelines.indicators import (
    CANDLE_COLUMNS,
    IndicatorConfig,
    check_candles,
    indicator_columns,
    series_arrays,
    series_indicators,
    series_keys,
)
from pipelines.market_stats import StatsConfig, series_stats, stats_columns
from pipelines.patterns import PATTERN_COLUMNS, SUMMARY_COLUMNS, series_patterns
from pipelines.sentiment.aggregation import join_sentiment

SENTIMENT_FEATURES: tuple[str, ...] = ("sent_n", "sent_mean", "sent_engagement", "sent_decayed", "sent_ewm")
"""Columns :func:`add_sentiment_features` appends (see :func:`pipelines.sentiment.aggregation.join_sentiment`)."""


class FeatureConfig(BaseModel):
    """Everything ``coinray features`` computes, with its parameters and the confidence weights."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    indicators: IndicatorConfig = IndicatorConfig()
    patterns: bool = Field(True, description="Compute the 61 cdl_* columns and the pattern summary.")
    stats: StatsConfig = StatsConfig()
    anomaly: AnomalyConfig = AnomalyConfig()
    cross_asset: CrossAssetConfig = CrossAssetConfig()
    confidence: ConfidenceConfig = ConfidenceConfig()
    with_stats: bool = Field(True, description="Compute the trend/volatility/liquidity statistics.")
    with_anomaly_scores: bool = Field(True, description="Compute the anomaly score columns.")
    with_cross_asset: bool = Field(True, description="Compute corr/beta to the reference symbol.")


def load_feature_config(source: Path | Mapping[str, Any] | None = None) -> FeatureConfig:
    """A :class:`FeatureConfig` from a TOML file (its ``[features]`` table, or the whole file) or a mapping.

    Raises
    ------
    ConfigError
        When the file cannot be read, a key is unknown, or a value (an indicator name) is invalid;
        the message lists the valid indicator names.
    """
    if source is None:
        return FeatureConfig()
    if isinstance(source, Path):
        try:
            data: Mapping[str, Any] = tomllib.loads(source.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read feature config {source}: {exc}") from exc
        data = data.get("features", data)
    else:
        data = source
    try:
        return FeatureConfig.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid feature config: {problems}") from exc


def series_feature_columns(cfg: FeatureConfig) -> list[str]:
    """Columns :func:`build_features` appends, in order."""
    cols = indicator_columns(_with_log_ret(cfg))
    if cfg.patterns:
        cols += [*PATTERN_COLUMNS, *SUMMARY_COLUMNS]
    if cfg.with_stats:
        cols += stats_columns(cfg.stats)
    if cfg.with_anomaly_scores:
        cols += anomaly_columns(cfg.anomaly)
    return cols


def feature_columns(cfg: FeatureConfig) -> list[str]:
    """Every feature column of the ``features`` table (per-series ones, then cross-asset ones)."""
    return series_feature_columns(cfg) + (cross_asset_columns(cfg.cross_asset) if cfg.with_cross_asset else [])


def _with_log_ret(cfg: FeatureConfig) -> IndicatorConfig:
    """The indicator config plus ``log_ret`` (cross-asset and confidence need ``log_ret_1``)."""
    if "log_ret" in cfg.indicators.indicators:
        return cfg.indicators
    return cfg.indicators.model_copy(update={"indicators": ("log_ret", *cfg.indicators.indicators)})


def series_features(group: pl.DataFrame, cfg: FeatureConfig) -> pl.DataFrame:
    """:func:`build_features` for one (exchange, symbol, timeframe) series already sorted by ts."""
    arrays = series_arrays(group)
    timeframe = str(group.get_column("timeframe")[0])
    values: dict[str, np.ndarray] = series_indicators(arrays, _with_log_ret(cfg))
    if cfg.patterns:
        values.update(series_patterns(arrays))
    if cfg.with_stats:
        values.update(series_stats(arrays, timeframe=timeframe, cfg=cfg.stats))
    if cfg.with_anomaly_scores:
        values.update(series_anomaly_scores(arrays, cfg.anomaly))
    return group.with_columns(
        pl.Series(name, vals, nan_to_null=vals.dtype.kind == "f") for name, vals in values.items()
    )


def build_features(frame: pl.DataFrame, cfg: FeatureConfig | None = None, *,
                   reference: pl.DataFrame | None = None, checked: bool = False) -> pl.DataFrame:
    """Append every feature column, per (exchange, symbol, timeframe), causally.

    Requires columns: symbol, timeframe, ts, open, high, low, close, volume (``exchange``
    optional). Adds :func:`feature_columns`; warm-up rows are null, never an error. Rows come
    back sorted by (exchange,) symbol, timeframe, ts. The input is not modified.

    ``reference`` holds the cross-asset reference's returns
    (:func:`pipelines.cross_asset.reference_returns` of the whole universe); without it they are
    taken from ``frame``, which is right whenever ``frame`` is the whole universe. ``checked=True``
    skips the candle value check when the caller already ran :func:`check_candles` on the rows.

    Raises
    ------
    pipelines.indicators.CandleValueError
        When a price is NaN, infinite or <= 0, or a volume is NaN, infinite or < 0 (row named).
    """
    cfg = cfg or FeatureConfig()
    require_columns(frame.columns, CANDLE_COLUMNS)
    if not checked:
        check_candles(frame)
    keys = series_keys(frame)
    ordered = frame.sort(*keys, "ts")
    parts = [series_features(g, cfg) for g in ordered.partition_by(keys, maintain_order=True)]
    if not parts:
        return ordered.with_columns(
            pl.lit(None, dtype=pl.Int16 if c.startswith("cdl_") else pl.Int32 if c == "pattern_hits" else pl.Float64)
            .alias(c)
            for c in feature_columns(cfg)
        )
    features = pl.concat(parts, how="vertical")
    if not cfg.with_cross_asset:
        return features
    ref = reference if reference is not None else reference_returns(ordered, cfg.cross_asset)
    return add_cross_asset(features, cfg.cross_asset, reference=ref)


def add_sentiment_features(features: pl.DataFrame, agg: pl.DataFrame, *, half_life_bars: float = 24.0
                           ) -> pl.DataFrame:
    """Append :data:`SENTIMENT_FEATURES` to a feature frame of any timeframes and exchanges, with no look-ahead.

    Each (exchange, timeframe) series gets the ``sentiment_agg`` buckets of its timeframe: the bar
    opening at ``t`` sees only texts with ``t <= ts < t + bar``, i.e. stamped no later than its close,
    and ``sent_ewm`` decays by half every ``half_life_bars`` bars over past buckets only.

    Parameters
    ----------
    features:
        Requires columns symbol, timeframe, ts (``exchange`` optional). Row order is kept.
    agg:
        ``sentiment_agg`` rows of one model version: symbol, timeframe, ts, n, mean_score,
        engagement_score, decayed_score.
    half_life_bars:
        Half-life of ``sent_ewm`` in bars.

    Returns
    -------
    polars.DataFrame
        ``features`` plus the five columns (``sent_n = 0`` and null means where no text was seen).
    """
    require_columns(features.columns, {"symbol", "timeframe", "ts"})
    keys = [k for k in ("exchange", "timeframe") if k in features.columns]
    indexed = features.drop([c for c in SENTIMENT_FEATURES if c in features.columns]).with_row_index("__feat_row")
    parts = [join_sentiment(part, agg.filter(pl.col("timeframe") == part.get_column("timeframe")[0]),
                            half_life_bars=half_life_bars)
             for part in indexed.partition_by(keys, maintain_order=True)]
    if not parts:
        return indexed.drop("__feat_row").with_columns(
            pl.lit(None, dtype=pl.Int64 if c == "sent_n" else pl.Float64).alias(c) for c in SENTIMENT_FEATURES)
    return pl.concat(parts, how="vertical").sort("__feat_row").drop("__feat_row")
