"""Helpers for sentiment tests: a tiny, locally built sequence classifier."""

from __future__ import annotations

from pathlib import Path


def build_tiny_classifier(path: Path, *, id2label: dict[int, str], with_head: bool = True, seed: int = 0) -> Path:
    """Save a 1-layer BERT classifier (real MiniLM tokenizer, random but *saved* weights) to ``path``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

    from pipelines.sentiment.offline_model import base_model_path

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, num_labels=len(id2label),
                        id2label=id2label, label2id={v: k for k, v in id2label.items()})
    model = BertForSequenceClassification(config) if with_head else BertModel(config)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(base_model_path()).save_pretrained(path)
    return path
