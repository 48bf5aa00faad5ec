"""Sentiment tables and the ``sentiment_agg`` materialized view on the real embedded store (chdb)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from actors.sources.pipeline import SentimentStore
from actors.sources.records import TextRecord, records_to_table
from cluster.settings import load_settings
from cluster.store import StoreOps, open_store
from pipelines.sentiment.aggregation import aggregate_sentiment
from pipelines.sentiment.symbols import SymbolMapper

pytestmark = pytest.mark.integration
T0 = 1_656_950_400_000  # 2022-07-04 16:00 UTC


@pytest.fixture
def ops() -> Iterator[StoreOps]:
    store = open_store(load_settings())
    yield store
    store.store.close()


def _texts() -> pa.Table:
    titles = ["Bitcoin Returns Above USD 20K, Ethereum Rallies", "Institutional investors shorting Bitcoin",
              "Ethereum Name Service Sells for 300 ETH", "Price analysis: BTC, ETH, XRP, SOL",
              "Argentineans Rush to Tether After Minister Resigns", "$SOL slides as network halts"]
    records = [TextRecord(id=f"rss:{i}", source="rss", ts=T0 + i * 1_900_000, author="a", title=t, body="",
                          url=f"https://x/{i}", engagement=float(i * 7)) for i, t in enumerate(titles)]
    return records_to_table(records)


def _scores(texts: pa.Table, version: str, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet([1, 1, 1], size=texts.num_rows).astype(np.float32)
    labels = np.array(["negative", "neutral", "positive"])[probs.argmax(axis=1)]
    return pa.table({
        "text_id": texts.column("id"), "model_version": [version] * texts.num_rows, "label": labels.tolist(),
        "p_neg": probs[:, 0], "p_neu": probs[:, 1], "p_pos": probs[:, 2], "score": probs[:, 2] - probs[:, 0],
        "ts": texts.column("ts"), "engagement": texts.column("engagement"), "lang": texts.column("lang"),
    })


def test_sentiment_agg_view_matches_the_polars_aggregation_and_is_idempotent(ops: StoreOps) -> None:
    store = SentimentStore(ops)
    texts = _texts()
    symbols = SymbolMapper().map_table(texts)
    assert store.insert_texts(texts) == 6
    store.insert_text_symbols(symbols)
    scores = _scores(texts, "m@1", seed=1)
    store.insert_sentiment(scores)
    store.insert_sentiment(scores)  # re-scoring the same texts never double counts
    store.insert_sentiment(_scores(texts, "m@2", seed=2))  # another model is kept apart
    assert store.count("sentiment") == 12 and store.count("texts") == 6

    joined = (pl.from_arrow(symbols).select("text_id", "symbol")
              .join(pl.from_arrow(scores).select("text_id", "ts", "score", "engagement"), on="text_id"))
    for timeframe in ("1h", "1d"):
        expected = aggregate_sentiment(joined, timeframe=timeframe)
        got = pl.from_arrow(store.read_agg(timeframe=timeframe, model_version="m@1")).drop("model_version")
        assert got["symbol"].to_list() == expected["symbol"].to_list()
        assert got["ts"].to_list() == expected["ts"].to_list()
        assert got["n"].to_list() == expected["n"].to_list()
        for col in ("mean_score", "engagement_score", "decayed_score"):
            assert np.allclose(got[col].to_numpy(), expected[col].to_numpy(), atol=1e-5), col
    daily = store.read_agg(timeframe="1d", symbols=["BTC/USDT"], model_version="m@1").to_pylist()
    assert [r["n"] for r in daily] == [3]
    assert {r["model_version"] for r in store.read_agg(timeframe="1h").to_pylist()} == {"m@1", "m@2"}
