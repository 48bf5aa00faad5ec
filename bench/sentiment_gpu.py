"""``coinray bench sentiment_gpu``: the GPU path (CUDA, fp16, Ray Data ``num_gpus``) vs the CPU path, same texts.

Prints ``{"skipped": ...}`` on a machine without CUDA. Meant for the device check when a GPU is lent.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cluster.settings import CoinraySettings

BASELINE = "the same scorer and texts on CPU (2 torch threads, in process)"


def run(settings: CoinraySettings, *, quick: bool) -> dict[str, Any]:
    """Score the held-out texts on CUDA through Ray Data and on CPU; compare speed and agreement."""
    import pyarrow as pa
    import torch

    if not torch.cuda.is_available():
        return {"bench": "sentiment_gpu", "baseline": BASELINE, "skipped": "no CUDA device"}
    from cluster.runtime import start_ray, stop_ray
    from pipelines.sentiment.batch import BatchScoreConfig, score_table
    from pipelines.sentiment.evaluation import holdout_split, read_twitter_financial_news
    from pipelines.sentiment.scorer import ScorerConfig, SentimentScorer
    from pipelines.sentiment.training import TrainConfig

    cfg = TrainConfig()
    data = read_twitter_financial_news(cfg.data)
    _, test_idx = holdout_split(data.labels, test_fraction=cfg.test_fraction, seed=cfg.seed)
    texts = [data.texts[i] for i in (test_idx[:300] if quick else test_idx)]
    cpu = SentimentScorer.load(ScorerConfig(model="coinray/minilm-finsent", device="cpu", threads=2))
    started = time.perf_counter()
    cpu_out = cpu.score(texts)
    cpu_tps = len(texts) / (time.perf_counter() - started)
    owns = start_ray(settings.ray)
    try:
        gpu_cfg = BatchScoreConfig(scorer=ScorerConfig(model="coinray/minilm-finsent", batch_size=256),
                                   num_gpus=1.0, concurrency=1, rows_per_batch=2048)
        table = pa.table({"text": texts})
        score_table(table.slice(0, 8), gpu_cfg, text_column="text")
        started = time.perf_counter()
        gpu_out = score_table(table, gpu_cfg, text_column="text")
        gpu_tps = len(texts) / (time.perf_counter() - started)
    finally:
        if owns:
            stop_ray()
    agree = float(np.mean(np.array(cpu_out.column("label").to_pylist()) ==
                          np.array(gpu_out.column("label").to_pylist())))
    return {"bench": "sentiment_gpu", "baseline": BASELINE, "device": torch.cuda.get_device_name(0),
            "texts": len(texts), "gpu_texts_per_s": round(gpu_tps, 1), "cpu_texts_per_s": round(cpu_tps, 1),
            "ratio": round(gpu_tps / cpu_tps, 2), "label_agreement": round(agree, 4)}
