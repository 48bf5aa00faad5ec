"""Ray Data wrappers: distribute the pure feature functions across (exchange, symbol, timeframe) series.

The candles are partitioned by series (one Arrow block each), then one ``map_batches`` stage with
``batch_size=None`` (a whole block per call, so a series is never split) runs
:func:`pipelines.features.build_features` on the cluster's CPUs. The cross-asset reference's
returns are computed once up front and shipped with the stage, so no second shuffle is needed.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl
import pyarrow as pa
import ray

from pipelines.cross_asset import reference_returns
from pipelines.features import FeatureConfig, build_features
from pipelines.indicators import IndicatorConfig, check_candles, series_keys

logger = logging.getLogger(__name__)


def as_feature_config(cfg: FeatureConfig | IndicatorConfig | None) -> FeatureConfig:
    """A :class:`FeatureConfig`; an :class:`IndicatorConfig` alone keeps every other default."""
    if cfg is None:
        return FeatureConfig()
    if isinstance(cfg, IndicatorConfig):
        return FeatureConfig(indicators=cfg)
    return cfg


def partition_series(candles: pl.DataFrame) -> list[pa.Table]:
    """One Arrow table per (exchange, symbol, timeframe), sorted by ts, in key order."""
    keys = series_keys(candles)
    ordered = candles.sort(*keys, "ts")
    return [part.to_arrow() for part in ordered.partition_by(keys, maintain_order=True)]


def features_batch(batch: pa.Table, cfg: FeatureConfig, reference: pa.Table) -> pa.Table:
    """``map_batches`` body: one or more whole series in, the same rows plus every feature out.

    The driver has already checked the candle values (:func:`compute_features`).
    """
    return build_features(pl.DataFrame(batch), cfg, reference=pl.DataFrame(reference), checked=True).to_arrow()


def _first_key(table: pa.Table) -> tuple[Any, ...]:
    keys = [k for k in ("exchange", "symbol", "timeframe", "ts") if k in table.column_names]
    return tuple(table.column(k)[0].as_py() for k in keys)


def compute_features(candles: pa.Table, cfg: FeatureConfig | IndicatorConfig | None = None, *,
                     concurrency: int | None = None) -> pa.Table:
    """Compute every feature for every series in ``candles`` with Ray Data (requires a running Ray).

    Parameters
    ----------
    candles:
        ``CANDLES``-shaped rows (at least symbol, timeframe, ts, open, high, low, close, volume).
    cfg:
        What to compute; an :class:`IndicatorConfig` keeps the other defaults.
    concurrency:
        Maximum parallel tasks of the stage; None lets Ray use every CPU.

    Returns
    -------
    pyarrow.Table
        The candles plus :func:`pipelines.features.feature_columns`, sorted by series and ts.

    Raises
    ------
    pipelines.indicators.CandleValueError
        Before any work is distributed, when a candle holds a NaN/inf/negative value.
    """
    fcfg = as_feature_config(cfg)
    frame = pl.DataFrame(candles)
    if frame.height == 0:
        return build_features(frame, fcfg).to_arrow()
    check_candles(frame)
    reference = reference_returns(frame, fcfg.cross_asset).to_arrow()
    parts = partition_series(frame)
    ds = ray.data.from_arrow(parts)
    out = ds.map_batches(features_batch, batch_format="pyarrow", batch_size=None,  # type: ignore[arg-type]
                         zero_copy_batch=True, fn_kwargs={"cfg": fcfg, "reference": reference},
                         concurrency=concurrency)
    tables = [t for t in ray.get(out.to_arrow_refs()) if t.num_rows]
    tables.sort(key=_first_key)
    logger.info("features: %d series, %d rows", len(tables), sum(t.num_rows for t in tables))
    return pa.concat_tables(tables, promote_options="default")
