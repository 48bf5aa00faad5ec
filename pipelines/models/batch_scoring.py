"""Batch scoring of a whole universe with Ray Data: one ``map_batches`` stage over per-symbol blocks.

The prepared frame (labels, statistical scores, model features: cross-sectional, so computed once
on the whole universe) is split into one Arrow block per symbol; ``EnsemblePredictor`` (a callable
class on an actor pool) unpickles the fitted ensemble once per actor and scores each block.
"""

from __future__ import annotations

import pickle

import polars as pl
import pyarrow as pa

from pipelines.models.ensemble import EnsembleModel

SCORE_COLUMNS: tuple[str, ...] = ("xgb_margin", "xgb_p", "ens_logit", "p_up")


class EnsemblePredictor:
    """``map_batches`` class: load the model in ``__init__``, score in ``__call__``."""

    def __init__(self, model_bytes: bytes) -> None:
        self._model: EnsembleModel = pickle.loads(model_bytes)  # our own model, pickled by us

    def __call__(self, batch: pa.Table) -> pa.Table:
        scored = self._model.predict(pl.from_arrow(batch))  # type: ignore[arg-type]
        return scored.select("symbol", "ts", *SCORE_COLUMNS).to_arrow()


def score_universe(prepared: pl.DataFrame, model: EnsembleModel, *, concurrency: int = 2) -> pl.DataFrame:
    """Scores (symbol, ts, xgb_margin, xgb_p, ens_logit, p_up) of every row, computed on Ray Data.

    Requires a running Ray. ``prepared`` is :func:`pipelines.models.ensemble.prepare_frame` output.
    """
    import ray

    blocks = [part.to_arrow() for part in prepared.sort("symbol", "ts").partition_by("symbol", maintain_order=True)]
    ds = ray.data.from_arrow(blocks).map_batches(
        EnsemblePredictor, fn_constructor_kwargs={"model_bytes": pickle.dumps(model)}, batch_format="pyarrow",
        batch_size=None, concurrency=concurrency)
    tables = ray.get(ds.to_arrow_refs())
    scored = pl.from_arrow(pa.concat_tables(tables))
    if not isinstance(scored, pl.DataFrame):
        raise TypeError("scoring returned no table")
    return scored.sort("symbol", "ts")
