"""Text hygiene, label mapping and length bucketing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cluster.errors import ConfigError
from pipelines.sentiment.batching import length_buckets
from pipelines.sentiment.labels import LABELS, Sentiment, label_order, reorder_probs
from pipelines.sentiment.text import clean_text, detect_language


def test_clean_text_strips_markup_scripts_entities_and_links() -> None:
    raw = "<div><script>var x = '<b>';</script><p>ETH &gt; $3k</p>\n\n <a href='u'>read</a> https://t.co/abc</div>"
    assert clean_text(raw) == "ETH > $3k read"


def test_clean_text_handles_none_empty_and_huge_inputs() -> None:
    assert clean_text(None) == ""
    assert clean_text("   \n\t ") == ""
    assert len(clean_text("word " * 100_000)) == 4000


@pytest.mark.parametrize(("text", "lang"), [
    ("Bitcoin falls below $30K as the market slides", "en"),
    ("Биткоин упал ниже 30 тысяч долларов", "other"),
    ("El precio de bitcoin cae por debajo de los 30 mil dólares hoy", "other"),
    ("🚀🚀", "und"),
])
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_label_order_from_names_and_known_models() -> None:
    assert label_order({0: "positive", 1: "negative", 2: "neutral"}) == (
        Sentiment.POSITIVE, Sentiment.NEGATIVE, Sentiment.NEUTRAL)
    generic = {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert label_order(generic, model_name="fuchenru/Trading-Hero-LLM") == (
        Sentiment.NEUTRAL, Sentiment.POSITIVE, Sentiment.NEGATIVE)
    with pytest.raises(ConfigError, match="cannot map the labels"):
        label_order(generic, model_name="someone/else")
    with pytest.raises(ConfigError):
        label_order({0: "negative", 1: "positive"})


def test_reorder_probs_puts_columns_in_neg_neu_pos_order() -> None:
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])
    out = reorder_probs(probs, (Sentiment.POSITIVE, Sentiment.NEUTRAL, Sentiment.NEGATIVE))
    assert out.tolist() == [[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]]
    assert [str(x) for x in LABELS] == ["negative", "neutral", "positive"]


def test_length_buckets_cover_every_row_once_and_group_similar_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=1000)
    sorted_batches = length_buckets(lengths, batch_size=64)
    assert sorted(np.concatenate(sorted_batches).tolist()) == list(range(1000))
    assert all(lengths[b].max() <= lengths[n].min() for b, n in itertools.pairwise(sorted_batches))
    shuffled = length_buckets(lengths, batch_size=64, rng=np.random.default_rng(1))
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(1000))
    again = length_buckets(lengths, batch_size=64, rng=np.random.default_rng(1))
    assert all((a == b).all() for a, b in zip(shuffled, again, strict=True))
    padding = sum(int(lengths[b].max()) * len(b) for b in shuffled)
    naive = sum(int(lengths[i:i + 64].max()) * len(lengths[i:i + 64]) for i in range(0, 1000, 64))
    assert padding < 0.7 * naive
