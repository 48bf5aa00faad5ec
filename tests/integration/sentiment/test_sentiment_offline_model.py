"""The shipped offline model meets its held-out target, and ``coinray sentiment train`` reproduces the model files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines.sentiment.evaluation import holdout_split, read_twitter_financial_news, vader_predict
from pipelines.sentiment.labels import LABELS
from pipelines.sentiment.offline_model import SHIPPED_MODEL_DIR
from pipelines.sentiment.scorer import ScorerConfig, SentimentScorer
from pipelines.sentiment.training import TrainConfig

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def test_shipped_model_beats_the_target_and_vader_on_the_held_out_split() -> None:
    cfg = TrainConfig()
    data = read_twitter_financial_news(cfg.data)
    _, test_idx = holdout_split(data.labels, test_fraction=cfg.test_fraction, seed=cfg.seed)
    test = data.subset(test_idx)
    scorer = SentimentScorer.load(ScorerConfig(model="coinray/minilm-finsent", fallback=False, threads=2))
    labels = scorer.score(list(test.texts)).column("label").to_pylist()
    pred = np.array([[str(x) for x in LABELS].index(lab) for lab in labels])
    accuracy = float(np.mean(pred == test.labels))
    vader = float(np.mean(vader_predict(test.texts) == test.labels))
    assert accuracy >= 0.80
    assert accuracy > vader + 0.2
    recorded = json.loads((SHIPPED_MODEL_DIR / "metrics.json").read_text())
    assert recorded["heldout"]["accuracy"] == pytest.approx(accuracy, abs=0.005)  # the card tells the truth
    assert recorded["test_rows"] == len(test.texts)
    card = (SHIPPED_MODEL_DIR / "MODEL_CARD.md").read_text()
    assert f"{recorded['heldout']['accuracy'] * 100:.1f}%" in card and "VADER" in card


def test_train_command_writes_a_loadable_model_dir(tmp_path: Path) -> None:
    out = tmp_path / "model"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "cluster.cli", "sentiment", "train", "--out-dir", str(out),
                           "--limit", "120", "--epochs", "1"], capture_output=True, text=True, timeout=400,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["heldout"]["n"] == 24 and 0 <= summary["heldout"]["accuracy"] <= 1
    assert {p.name for p in out.iterdir()} >= {"delta.safetensors", "coinray_model.json", "metrics.json",
                                               "MODEL_CARD.md"}
    assert (out / "delta.safetensors").stat().st_size < 4_000_000
    scorer = SentimentScorer.load(ScorerConfig(model="coinray/minilm-finsent", offline_model_dir=out,
                                               fallback=False))
    assert scorer.score(["Bitcoin rallies"]).num_rows == 1
