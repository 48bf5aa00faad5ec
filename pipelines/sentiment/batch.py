"""Ray Data batch inference: ``SentimentPredictor`` on an actor pool over a dataset of texts."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from pipelines.sentiment.offline_model import OFFLINE_MODEL_NAME
from pipelines.sentiment.scorer import ScorerConfig, SentimentScorer, load_model


class BatchScoreConfig(BaseModel):
    """Sizing of the Ray Data scoring stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scorer: ScorerConfig = ScorerConfig()
    rows_per_batch: int = Field(512, ge=1, description="Rows per map_batches call (bucketed inside).")
    concurrency: int = Field(1, ge=1, description="Actors in the pool (each holds one model).")
    num_cpus: float = Field(1.0, gt=0, description="CPUs reserved per actor.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per actor; > 0 runs the model on CUDA (fp16).")


def append_scores(batch: pa.Table, scorer: SentimentScorer, *, text_column: str) -> pa.Table:
    """``batch`` plus the score columns and ``model_version``."""
    scores = scorer.score(batch.column(text_column).to_pylist())
    out = batch
    for name in scores.column_names:
        out = out.append_column(name, scores.column(name))
    return out.append_column("model_version", pa.array([scorer.model_version] * batch.num_rows, pa.string()))


class SentimentPredictor:
    """``map_batches`` callable class: loads the scorer once per actor, scores each Arrow batch."""

    def __init__(self, cfg: ScorerConfig, text_column: str) -> None:
        self._scorer = SentimentScorer.load(cfg)
        self._text_column = text_column

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Delegate to :func:`append_scores`."""
        return append_scores(batch, self._scorer, text_column=self._text_column)


def resolve_scorer_config(cfg: ScorerConfig) -> ScorerConfig:
    """Load the model once here (failing fast, logging any fallback once) and pin what loaded.

    The returned config names the model that actually loaded, with ``fallback`` off, so the actors of
    the pool load exactly that model and never repeat the fallback.

    Raises
    ------
    ModelLoadError
        When no model can be loaded.
    """
    loaded = load_model(cfg)
    if loaded.name == OFFLINE_MODEL_NAME:
        return cfg.model_copy(update={"model": OFFLINE_MODEL_NAME, "fallback": False})
    return cfg.model_copy(update={"fallback": False})


def scored_dataset(table: pa.Table, cfg: BatchScoreConfig, *, text_column: str) -> Any:
    """The Ray Dataset that scores ``table`` (lazy; requires a running Ray), with a ``__row`` column holding
    each row's input position. :func:`score_table` collects it; the benchmark streams it."""
    import ray

    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    step = cfg.rows_per_batch
    # one block per batch, so every actor of the pool gets work (a single block would feed one actor only)
    ds = ray.data.from_arrow([indexed.slice(i, step) for i in range(0, indexed.num_rows, step)])
    scorer_cfg = cfg.scorer
    if cfg.num_gpus > 0 and scorer_cfg.device == "auto":
        scorer_cfg = scorer_cfg.model_copy(update={"device": "cuda"})
    if scorer_cfg.threads is None:
        scorer_cfg = scorer_cfg.model_copy(update={"threads": max(1, int(cfg.num_cpus))})
    options: dict[str, Any] = {"num_gpus": cfg.num_gpus} if cfg.num_gpus > 0 else {"num_cpus": cfg.num_cpus}
    return ds.map_batches(
        SentimentPredictor, fn_constructor_kwargs={"cfg": scorer_cfg, "text_column": text_column},
        batch_format="pyarrow", batch_size=cfg.rows_per_batch, concurrency=cfg.concurrency, **options,
    )


def score_table(table: pa.Table, cfg: BatchScoreConfig, *, text_column: str) -> pa.Table:
    """Score every row of ``table`` with Ray Data (requires a running Ray); rows keep their input order."""
    import ray

    if table.num_rows == 0:
        scorer = SentimentScorer.load(cfg.scorer)
        return append_scores(table, scorer, text_column=text_column)
    scored = scored_dataset(table, cfg, text_column=text_column)
    parts = [t for t in ray.get(scored.to_arrow_refs()) if t.num_rows]
    return restore_order(pa.concat_tables(parts))


def restore_order(scored: pa.Table) -> pa.Table:
    """Rows of a :func:`scored_dataset` output in input order, without the ``__row`` column."""
    return scored.take(pc.sort_indices(scored.column("__row"))).drop_columns(["__row"])
