"""SentimentScorer: loading by path and by hub name (from a local cache), refusal of random heads, scoring."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines.sentiment.scorer import SCORE_SCHEMA, ModelLoadError, ScorerConfig, SentimentScorer, load_model
from tests.unit.sentiment.sentiment_helpers import build_tiny_classifier

REPO = Path(__file__).resolve().parents[3]


def test_scores_have_the_contract_columns_and_consistent_values(tiny_model_dir: Path) -> None:
    scorer = SentimentScorer.load(ScorerConfig(model=str(tiny_model_dir), fallback=False, batch_size=4))
    texts = ["Bitcoin surges to a record high", "", None, "<p>Ether &amp; SOL <b>slump</b></p>",
             "word " * 5000, "比特币价格大涨", "Shares fall after weak guidance"]
    out = scorer.score(texts)
    assert out.schema == SCORE_SCHEMA
    assert out.num_rows == len(texts)
    probs = np.column_stack([out.column(c).to_numpy() for c in ("p_neg", "p_neu", "p_pos")])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(out.column("score").to_numpy(), probs[:, 2] - probs[:, 0], atol=1e-6)
    assert out.column("label").to_pylist()[1:3] == ["neutral", "neutral"]  # empty texts are neutral
    assert probs[1].tolist() == [0.0, 1.0, 0.0]
    assert out.column("lang").to_pylist()[5] == "other"
    labels = np.array(["negative", "neutral", "positive"])[probs.argmax(axis=1)]
    assert out.column("label").to_pylist() == labels.tolist()
    # batching and bucketing do not change a text's score
    alone = scorer.score([texts[0]]).column("p_pos")[0].as_py()
    assert alone == pytest.approx(out.column("p_pos")[0].as_py(), abs=1e-5)
    assert scorer.max_length == 128
    assert scorer.model_version.startswith(str(tiny_model_dir))


def test_a_checkpoint_without_a_classification_head_is_refused(tmp_path: Path) -> None:
    headless = build_tiny_classifier(tmp_path / "headless", id2label={0: "negative", 1: "neutral", 2: "positive"},
                                     with_head=False)
    with pytest.raises(ModelLoadError, match="random weights") as info:
        load_model(ScorerConfig(model=str(headless), fallback=False))
    assert str(headless) in info.value.tried[0]


def test_unknown_model_names_every_name_and_path_tried(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError) as info:
        load_model(ScorerConfig(model=str(missing), fallback=True, offline_model_dir=tmp_path / "no-offline"))
    message = str(info.value)
    assert str(missing) in message and "coinray/minilm-finsent" in message and str(tmp_path / "no-offline") in message
    assert len(info.value.tried) == 2


def test_failed_model_falls_back_to_the_shipped_model_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pipelines.sentiment.scorer")
    loaded = load_model(ScorerConfig(model=str(tmp_path / "absent")))
    assert loaded.name == "coinray/minilm-finsent"
    warnings = [r for r in caplog.records if r.name == "pipelines.sentiment.scorer"]
    assert len(warnings) == 1
    assert "using the shipped offline model" in warnings[0].getMessage()
    assert str(tmp_path / "absent") in warnings[0].getMessage()


def test_hub_name_loads_from_the_local_hugging_face_cache(tmp_path: Path) -> None:
    """The real by-name path: ``fuchenru/Trading-Hero-LLM`` resolved from a cache, offline, LABEL_i names mapped."""
    snapshot = tmp_path / "hf" / "hub" / "models--fuchenru--Trading-Hero-LLM" / "snapshots" / "0c27708abc"
    build_tiny_classifier(snapshot, id2label={0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, seed=3)
    refs = snapshot.parents[1] / "refs"
    refs.mkdir()
    (refs / "main").write_text("0c27708abc")
    code = (
        "import json\n"
        "from pipelines.sentiment.scorer import ScorerConfig, SentimentScorer\n"
        "s = SentimentScorer.load(ScorerConfig(fallback=False))\n"
        "print(json.dumps({'name': s.model_name, 'order': [str(x) for x in s._loaded.order],"
        " 'n': s.score(['Bitcoin rallies']).num_rows}))\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"name": "fuchenru/Trading-Hero-LLM", "order": ["neutral", "positive", "negative"], "n": 1}
