"""LoRA adapters: the merged model and the applied delta reproduce the adapted model exactly."""

from __future__ import annotations

import torch
from transformers import BertConfig, BertForSequenceClassification

from pipelines.sentiment.lora import LoraLinear, apply_delta, attach_lora, delta_state, merge_lora


def _tiny(seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=3)
    return BertForSequenceClassification(cfg).eval()


def test_lora_attach_train_merge_and_delta_round_trip() -> None:
    model = _tiny()
    wrapped = attach_lora(model, rank=4, alpha=8.0)
    assert len(wrapped) == 2 * 6
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(".lora_" in n or n.endswith(".bias") or "LayerNorm" in n or n.startswith(("bert.pooler", "classifier"))
               for n in trainable)
    assert not any(n.endswith("word_embeddings.weight") for n in trainable)
    # one optimisation step so the B factors are non-zero
    ids = torch.randint(0, 50, (4, 7))
    loss = model(input_ids=ids, labels=torch.tensor([0, 1, 2, 1])).loss
    loss.backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5).step()
    model.eval()
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
    delta = delta_state(model)
    assert any(k.endswith(".lora_b") and v.abs().sum() > 0 for k, v in delta.items())

    fresh = _tiny()  # same seed: the same "base" weights
    touched = apply_delta(fresh, delta, scale=8.0 / 4)
    assert "classifier.weight" in touched
    with torch.no_grad():
        rebuilt = fresh(input_ids=ids).logits
    assert torch.allclose(adapted, rebuilt, atol=1e-5)

    merge_lora(model)
    assert not any(isinstance(m, LoraLinear) for m in model.modules())
    with torch.no_grad():
        merged = model(input_ids=ids).logits
    assert torch.allclose(adapted, merged, atol=1e-5)


def test_first_layer_limits_adapters_and_trained_tensors_to_the_top_layers() -> None:
    model = _tiny()
    wrapped = attach_lora(model, rank=2, alpha=2.0, first_layer=1)
    assert wrapped and all(".layer.1." in name for name in wrapped)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert not any(".layer.0." in n or n.startswith("bert.embeddings") for n in trainable)
    assert any(n.startswith("classifier") for n in trainable) and any(n.startswith("bert.pooler") for n in trainable)
