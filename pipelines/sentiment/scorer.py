"""``SentimentScorer``: load a Hugging Face sequence classifier (or the shipped offline model) and score texts.

Loading tries the configured name or path first (the Hugging Face cache, then the hub when it is
reachable) and falls back to the shipped offline model with one WARNING line. A model whose
classification head would be randomly initialised is refused, never used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from cluster.errors import ConfigError
from pipelines.sentiment.batching import length_buckets
from pipelines.sentiment.labels import LABELS, Sentiment, label_order, reorder_probs
from pipelines.sentiment.offline_model import OFFLINE_MODEL_NAME, SHIPPED_MODEL_DIR, load_offline_model
from pipelines.sentiment.text import clean_text, detect_language

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "fuchenru/Trading-Hero-LLM"
SCORE_SCHEMA = pa.schema([
    pa.field("label", pa.string(), nullable=False),
    pa.field("p_neg", pa.float32(), nullable=False),
    pa.field("p_neu", pa.float32(), nullable=False),
    pa.field("p_pos", pa.float32(), nullable=False),
    pa.field("score", pa.float32(), nullable=False),
    pa.field("lang", pa.string(), nullable=False),
])
"""Columns :meth:`SentimentScorer.score` returns; ``score = p_pos - p_neg``."""


class ModelLoadError(ConfigError):
    """No sentiment model could be loaded; ``tried`` lists every name or path attempted, with the reason."""

    def __init__(self, message: str, *, tried: tuple[str, ...]) -> None:
        super().__init__(message)
        self.tried = tried


class ScorerConfig(BaseModel):
    """Which model scores texts, and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(DEFAULT_MODEL, description="Hub name or local directory of a sequence classifier; "
                                                  f"{OFFLINE_MODEL_NAME!r} selects the shipped model.")
    fallback: bool = Field(True, description="Fall back to the shipped offline model when `model` fails.")
    offline_model_dir: Path = Field(SHIPPED_MODEL_DIR, description="Directory of the shipped offline model.")
    batch_size: int = Field(64, ge=1, description="Texts per forward pass (after length bucketing).")
    max_length: int | None = Field(None, ge=8, description="Token limit; None = the model's own maximum.")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; None = torch's default.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda)$", description="auto = cuda when available.")
    fp16: bool = Field(True, description="Use half precision on a GPU.")


@dataclass(frozen=True)
class LoadedModel:
    """A ready classifier with its tokenizer, label order and identity."""

    model: Any
    tokenizer: Any
    order: tuple[Sentiment, ...]
    name: str
    version: str
    max_length: int


def _load_hf(name_or_path: str) -> LoadedModel:
    """Load a hub model or local directory; raise ``OSError``/``ValueError``/``ConfigError`` on failure."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model, info = AutoModelForSequenceClassification.from_pretrained(name_or_path, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    if info["missing_keys"]:
        raise ConfigError(f"checkpoint lacks {sorted(info['missing_keys'])[:4]} (would be random weights)")
    order = label_order(model.config.id2label, model_name=name_or_path)
    limit = min(int(getattr(model.config, "max_position_embeddings", 512)),
                int(min(getattr(tokenizer, "model_max_length", 512), 100_000)))
    revision = str(getattr(model.config, "_commit_hash", None) or "local")
    return LoadedModel(model.eval(), tokenizer, order, name_or_path, revision[:12], limit)


def _load_offline(model_dir: Path) -> LoadedModel:
    model, tokenizer, meta = load_offline_model(model_dir)
    order = tuple(Sentiment(lab) for lab in meta.labels)
    return LoadedModel(model, tokenizer, order, meta.name, meta.version, meta.max_length * 2)


def load_model(cfg: ScorerConfig) -> LoadedModel:
    """Load ``cfg.model``, falling back to the shipped model when allowed.

    Raises
    ------
    ModelLoadError
        When nothing could be loaded; the message names every name and path tried.
    """
    tried: list[str] = []
    if cfg.model != OFFLINE_MODEL_NAME:
        where = "local directory" if Path(cfg.model).expanduser().is_dir() else (
            "Hugging Face cache (HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") == "1"
            else "Hugging Face cache, then hub")
        try:
            return _load_hf(str(Path(cfg.model).expanduser()) if where == "local directory" else cfg.model)
        except (OSError, ValueError, ConfigError, KeyError) as exc:
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            tried.append(f"{cfg.model} ({where}): {reason}")
            if not cfg.fallback:
                raise ModelLoadError(f"could not load sentiment model; tried: {'; '.join(tried)}",
                                     tried=tuple(tried)) from exc
    try:
        loaded = _load_offline(cfg.offline_model_dir)
    except (OSError, ValueError, ConfigError, KeyError) as exc:
        tried.append(f"{OFFLINE_MODEL_NAME} ({cfg.offline_model_dir}): {exc}")
        raise ModelLoadError(f"could not load sentiment model; tried: {'; '.join(tried)}",
                             tried=tuple(tried)) from exc
    if tried:
        logger.warning("sentiment: %s; using the shipped offline model %s v%s", tried[0], loaded.name,
                       loaded.version)
    return loaded


class SentimentScorer:
    """Scores texts with one loaded classifier (length-bucketed, dynamically padded, inference mode).

    Build it with :meth:`load`; it holds the model, so create one per process or actor.
    """

    def __init__(self, loaded: LoadedModel, cfg: ScorerConfig) -> None:
        import torch

        self._loaded = loaded
        self._cfg = cfg
        self.max_length = min(cfg.max_length or loaded.max_length, loaded.max_length)
        want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
        self.device = torch.device("cuda" if want_cuda else "cpu")
        self._model = loaded.model.to(self.device)
        if want_cuda and cfg.fp16:
            self._model = self._model.half()

    @classmethod
    def load(cls, cfg: ScorerConfig | None = None) -> SentimentScorer:
        """Load the configured model (see :func:`load_model`) and apply the thread setting."""
        cfg = cfg or ScorerConfig()
        if cfg.threads is not None:
            import torch

            torch.set_num_threads(cfg.threads)
        return cls(load_model(cfg), cfg)

    @property
    def model_name(self) -> str:
        """The loaded model's hub name, path or offline name."""
        return self._loaded.name

    @property
    def model_version(self) -> str:
        """``name@version``: what the ``sentiment`` table records per score."""
        return f"{self._loaded.name}@{self._loaded.version}"

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, 3)`` probabilities in ``p_neg, p_neu, p_pos`` order for already-cleaned, non-empty texts."""
        import torch

        out = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
        if not texts:
            return out
        tok = self._loaded.tokenizer
        ids = tok(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        pad_id = tok.pad_token_id or 0
        with torch.inference_mode():
            for batch in length_buckets([len(r) for r in ids], batch_size=self._cfg.batch_size):
                rows = [ids[i] for i in batch]
                width = max(len(r) for r in rows)
                input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for j, r in enumerate(rows):
                    input_ids[j, : len(r)] = torch.as_tensor(r)
                    mask[j, : len(r)] = 1
                logits = self._model(input_ids=input_ids.to(self.device),
                                     attention_mask=mask.to(self.device)).logits
                out[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return reorder_probs(out, self._loaded.order)

    def score(self, texts: Sequence[str | None]) -> pa.Table:
        """Score raw texts: markup and links stripped, language flagged, long texts truncated.

        Empty texts (after cleaning) are neutral with ``p_neu = 1`` and are not sent to the model.

        Returns
        -------
        pyarrow.Table
            :data:`SCORE_SCHEMA` columns, one row per input text, in input order.
        """
        cleaned = [clean_text(t) for t in texts]
        keep = [i for i, t in enumerate(cleaned) if t]
        probs = np.tile(np.array([0.0, 1.0, 0.0], dtype=np.float32), (len(cleaned), 1))
        if keep:
            probs[keep] = self.probabilities([cleaned[i] for i in keep])
        names = np.array([str(lab) for lab in LABELS])
        return pa.table({
            "label": pa.array(names[probs.argmax(axis=1)].tolist(), pa.string()),
            "p_neg": pa.array(probs[:, 0]), "p_neu": pa.array(probs[:, 1]), "p_pos": pa.array(probs[:, 2]),
            "score": pa.array(probs[:, 2] - probs[:, 0]),
            "lang": pa.array([detect_language(t) for t in cleaned], pa.string()),
        }, schema=SCORE_SCHEMA)
