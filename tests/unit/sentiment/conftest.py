"""Fixtures for sentiment unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.sentiment.sentiment_helpers import build_tiny_classifier


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny classifier whose config names its labels (negative, neutral, positive)."""
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny") / "model",
                                 id2label={0: "negative", 1: "neutral", 2: "positive"})
