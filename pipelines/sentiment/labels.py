"""Map any sequence-classification model's output labels onto negative / neutral / positive."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import numpy as np

from cluster.errors import ConfigError


class Sentiment(StrEnum):
    """The three labels coinray stores, in the column order of ``p_neg, p_neu, p_pos``."""

    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


LABELS: tuple[Sentiment, ...] = (Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE)

# Models whose config carries only LABEL_0.. names: their documented index order.
KNOWN_LABEL_ORDERS: dict[str, tuple[Sentiment, ...]] = {
    "fuchenru/Trading-Hero-LLM": (Sentiment.NEUTRAL, Sentiment.POSITIVE, Sentiment.NEGATIVE),
    "zeroshot/twitter-financial-news-sentiment": (Sentiment.NEGATIVE, Sentiment.POSITIVE, Sentiment.NEUTRAL),
}

_SYNONYMS: dict[str, Sentiment] = {
    "negative": Sentiment.NEGATIVE, "neg": Sentiment.NEGATIVE, "bearish": Sentiment.NEGATIVE,
    "neutral": Sentiment.NEUTRAL, "neu": Sentiment.NEUTRAL, "none": Sentiment.NEUTRAL,
    "positive": Sentiment.POSITIVE, "pos": Sentiment.POSITIVE, "bullish": Sentiment.POSITIVE,
}


def label_order(id2label: Mapping[int, str], *, model_name: str = "") -> tuple[Sentiment, ...]:
    """The :class:`Sentiment` of each output index of a model.

    Parameters
    ----------
    id2label:
        The model config's ``id2label`` (index -> name).
    model_name:
        The hub name or path the model came from; used for models whose names are ``LABEL_i``.

    Returns
    -------
    tuple[Sentiment, ...]
        One entry per output index.

    Raises
    ------
    ConfigError
        When the labels cannot be mapped onto exactly negative, neutral and positive.

    Examples
    --------
    >>> label_order({0: "Bearish", 1: "Bullish", 2: "Neutral"})
    (<Sentiment.NEGATIVE: 'negative'>, <Sentiment.POSITIVE: 'positive'>, <Sentiment.NEUTRAL: 'neutral'>)
    """
    names = [str(id2label[i]).strip().lower() for i in sorted(id2label)]
    mapped = [_SYNONYMS.get(n) for n in names]
    if all(m is not None for m in mapped) and sorted(mapped) == sorted(LABELS):  # type: ignore[type-var]
        return tuple(m for m in mapped if m is not None)
    for known, order in KNOWN_LABEL_ORDERS.items():
        if model_name.rstrip("/").endswith(known) and len(names) == len(order):
            return order
    raise ConfigError(
        f"cannot map the labels {names} of model {model_name or '(unnamed)'} to negative/neutral/positive; "
        "use a model whose config names its labels, or add it to KNOWN_LABEL_ORDERS"
    )


def reorder_probs(probs: np.ndarray, order: tuple[Sentiment, ...]) -> np.ndarray:
    """Columns of ``probs`` (one per model output) rearranged to ``p_neg, p_neu, p_pos``.

    >>> reorder_probs(np.array([[0.2, 0.7, 0.1]]), (Sentiment.NEUTRAL, Sentiment.POSITIVE, Sentiment.NEGATIVE))
    array([[0.1, 0.2, 0.7]])
    """
    index = [order.index(label) for label in LABELS]
    return probs[:, index]
