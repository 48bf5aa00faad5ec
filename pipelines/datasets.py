"""Ray Data wrappers: distribute the pure feature functions across symbols and timeframes."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import ray

from pipelines.indicators import IndicatorConfig, add_indicators


def features_batch(batch: pa.Table, cfg: IndicatorConfig) -> pa.Table:
    """``map_groups`` body: one (symbol, timeframe) group of candles in, the same rows plus indicators out."""
    return add_indicators(pl.from_arrow(batch), cfg).to_arrow()  # type: ignore[arg-type]


def compute_features(candles: pa.Table, cfg: IndicatorConfig | None = None) -> pa.Table:
    """Compute indicators for every (symbol, timeframe) in ``candles`` with Ray Data.

    The table is grouped by symbol and timeframe and each group is processed by
    :func:`features_batch` in parallel across the cluster. Requires a running Ray.
    """
    cfg = cfg or IndicatorConfig()
    if candles.num_rows == 0:
        return add_indicators(pl.from_arrow(candles), cfg).to_arrow()  # type: ignore[arg-type]
    ds = ray.data.from_arrow(candles)
    out = ds.groupby(["symbol", "timeframe"]).map_groups(
        features_batch, batch_format="pyarrow", fn_kwargs={"cfg": cfg}
    )
    tables = [t for t in ray.get(out.to_arrow_refs()) if t.num_rows]
    merged = pa.concat_tables(tables, promote_options="default")
    return pl.from_arrow(merged).sort("symbol", "timeframe", "ts").to_arrow()  # type: ignore[union-attr]
