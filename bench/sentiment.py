"""``coinray bench sentiment``: coinray's bucketed Ray Data scoring vs a plain ``transformers`` pipeline.

Both score the same real texts (the held-out split of the bundled Twitter Financial News data) with the
same model (the shipped offline model unless ``COINRAY_BENCH_SENTIMENT_MODEL`` names another), the same
batch size and the same total number of torch threads. Accuracy figures are on that held-out split.

The texts are scored ``LAPS`` times over so that throughput is measured over enough batches:
``texts_per_s`` is the Ray Data path's steady state (rows delivered after every actor of the pool has
delivered its first batch, over the time since), the baseline's is over one call with its model
already loaded; the Ray path's fixed cost per run (actor start, model load, first batch) is reported
as ``ray_first_output_s`` and its throughput including it as ``end_to_end_texts_per_s``.
"""

from __future__ import annotations

import os
import time
from typing import Any, cast

import numpy as np

from cluster.settings import CoinraySettings

BASELINE = "plain transformers text-classification pipeline, same model, texts, batch size and threads"
BATCH_SIZE = 64
THREADS = 2
LAPS = 3
ROWS_PER_BLOCK = 256


def _baseline(loaded: Any, texts: list[str]) -> tuple[float, np.ndarray]:
    import torch
    from transformers import pipeline

    torch.set_num_threads(THREADS)
    clf = pipeline("text-classification", model=loaded.model, tokenizer=loaded.tokenizer, device=-1, top_k=None,
                   batch_size=BATCH_SIZE, truncation=True, max_length=loaded.max_length)
    started = time.perf_counter()
    outputs = cast("list[list[dict[str, Any]]]", clf(texts))  # top_k=None: one score list per text
    elapsed = time.perf_counter() - started
    names = [str(loaded.model.config.id2label[i]) for i in range(loaded.model.config.num_labels)]
    probs = np.array([[next(o["score"] for o in row if o["label"] == n) for n in names] for row in outputs])
    return len(texts) / elapsed, probs


def run(settings: CoinraySettings, *, quick: bool) -> dict[str, Any]:
    """Measure both paths in this run and return one JSON-able object."""
    import pyarrow as pa

    from cluster.runtime import start_ray, stop_ray
    from pipelines.sentiment.batch import BatchScoreConfig, restore_order, scored_dataset
    from pipelines.sentiment.evaluation import (
        classification_metrics,
        holdout_split,
        read_twitter_financial_news,
        vader_predict,
    )
    from pipelines.sentiment.labels import LABELS, reorder_probs
    from pipelines.sentiment.scorer import ScorerConfig, SentimentScorer, load_model
    from pipelines.sentiment.text import clean_text
    from pipelines.sentiment.training import TrainConfig

    train_cfg = TrainConfig()
    data = read_twitter_financial_news(train_cfg.data)
    _, test_idx = holdout_split(data.labels, test_fraction=train_cfg.test_fraction, seed=train_cfg.seed)
    test = data.subset(test_idx[:400] if quick else test_idx)
    texts = [clean_text(t) for t in test.texts] * LAPS
    model_name = os.environ.get("COINRAY_BENCH_SENTIMENT_MODEL", "coinray/minilm-finsent")
    scorer_cfg = ScorerConfig(model=model_name, batch_size=BATCH_SIZE, threads=THREADS)

    loaded = load_model(scorer_cfg)
    baseline_tps, baseline_probs = _baseline(loaded, texts)
    baseline_pred = reorder_probs(baseline_probs, loaded.order).argmax(axis=1)[: len(test.texts)]
    in_process = SentimentScorer(loaded, scorer_cfg)
    started = time.perf_counter()
    in_process.score(texts)
    scorer_tps = len(texts) / (time.perf_counter() - started)

    owns_ray = start_ray(settings.ray)
    try:
        cfg = BatchScoreConfig(scorer=scorer_cfg.model_copy(update={"threads": 1}), concurrency=THREADS,
                               num_cpus=1, rows_per_batch=ROWS_PER_BLOCK)
        stamps: list[tuple[float, int]] = []
        parts = []
        started = time.perf_counter()
        for batch in scored_dataset(pa.table({"text": texts}), cfg, text_column="text").iter_batches(
                batch_format="pyarrow", batch_size=None):
            stamps.append((time.perf_counter(), batch.num_rows))
            parts.append(batch)
        elapsed = time.perf_counter() - started
    finally:
        if owns_ray:
            stop_ray()
    scored = restore_order(pa.concat_tables(parts)).slice(0, len(test.texts))
    warm_t = stamps[THREADS - 1][0]  # every actor has delivered one batch
    texts_per_s = sum(rows for _, rows in stamps[THREADS:]) / (stamps[-1][0] - warm_t)
    names = [str(lab) for lab in LABELS]
    pred = np.array([names.index(lab) for lab in scored.column("label").to_pylist()])
    metrics = classification_metrics(test.labels, pred)
    return {
        "bench": "sentiment", "baseline": BASELINE, "model": loaded.name, "texts": len(texts),
        "batch_size": BATCH_SIZE, "threads": THREADS,
        "texts_per_s": round(texts_per_s, 1), "baseline_texts_per_s": round(baseline_tps, 1),
        "ratio": round(texts_per_s / baseline_tps, 2),
        "end_to_end_texts_per_s": round(len(texts) / elapsed, 1), "ray_first_output_s": round(
            stamps[0][0] - started, 2), "ray_batches": len(stamps), "laps": LAPS,
        "scorer_texts_per_s": round(scorer_tps, 1), "scorer_ratio": round(scorer_tps / baseline_tps, 2),
        "accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4),
        "baseline_accuracy": round(float(np.mean(baseline_pred == test.labels)), 4),
        "vader_accuracy": round(classification_metrics(test.labels, vader_predict(list(test.texts)))["accuracy"], 4),
        "note": "coinray path: Ray Data map_batches, 2 actors x 1 torch thread, length-bucketed dynamic padding, "
                "inference_mode, steady state after each actor's first batch (actor start and model load are "
                "ray_first_output_s); scorer_*: the same bucketed scorer in one process with 2 threads; baseline: "
                "one process, 2 torch threads, model loaded before timing.",
    }
