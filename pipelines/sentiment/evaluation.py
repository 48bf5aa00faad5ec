"""Evaluation helpers: labelled datasets, metrics and the VADER baseline."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cluster.errors import ParseError
from pipelines.sentiment.labels import LABELS, Sentiment

TWITTER_LABELS: dict[str, Sentiment] = {"0": Sentiment.NEGATIVE, "1": Sentiment.POSITIVE, "2": Sentiment.NEUTRAL}
"""twitter_financial_news codes: 0 = Bearish, 1 = Bullish, 2 = Neutral."""

BUNDLED_TWITTER = Path(__file__).resolve().parent / "data" / "twitter_financial_news_train.csv.gz"


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with gold labels as indices into :data:`LABELS` (0 = negative, 1 = neutral, 2 = positive)."""

    texts: tuple[str, ...]
    labels: np.ndarray

    def subset(self, index: np.ndarray) -> LabelledTexts:
        """The rows at ``index``."""
        return LabelledTexts(tuple(self.texts[i] for i in index), self.labels[index])


def read_twitter_financial_news(path: Path = BUNDLED_TWITTER) -> LabelledTexts:
    """Read the twitter-financial-news CSV (``text,label``; ``.gz`` allowed).

    Raises
    ------
    ParseError
        Naming the row when a label is not 0, 1 or 2.
    """
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    texts: list[str] = []
    labels: list[int] = []
    for row_no, row in enumerate(csv.DictReader(io.StringIO(raw.decode("utf-8"))), start=1):
        code = (row.get("label") or "").strip()
        if code not in TWITTER_LABELS:
            raise ParseError(f"{path}: row {row_no}: label {code!r} is not 0, 1 or 2", excerpt=str(row))
        texts.append(row["text"])
        labels.append(LABELS.index(TWITTER_LABELS[code]))
    return LabelledTexts(tuple(texts), np.array(labels, dtype=np.int64))


def read_phrasebank(path: Path) -> LabelledTexts:
    """Read a Financial PhraseBank file (latin-1, ``sentence@label``). Evaluation only: CC BY-NC-SA."""
    texts: list[str] = []
    labels: list[int] = []
    for row_no, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        sentence, sep, label = line.rpartition("@")
        if not sep or label.strip() not in {"negative", "neutral", "positive"}:
            raise ParseError(f"{path}: line {row_no} is not 'sentence@label'", excerpt=line)
        texts.append(sentence)
        labels.append(LABELS.index(Sentiment(label.strip())))
    return LabelledTexts(tuple(texts), np.array(labels, dtype=np.int64))


def holdout_split(labels: np.ndarray, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified train/test split of row indices (deterministic for a seed)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=labels)
    return np.sort(train), np.sort(test)


def classification_metrics(gold: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 (over negative, neutral, positive)."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro", labels=[0, 1, 2])),
        "n": len(gold),
    }


def vader_predict(texts: Sequence[str], *, threshold: float = 0.05) -> np.ndarray:
    """VADER baseline: compound >= threshold -> positive, <= -threshold -> negative, else neutral."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    out = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        compound = analyzer.polarity_scores(text)["compound"]
        out[i] = 2 if compound >= threshold else (0 if compound <= -threshold else 1)
    return out
