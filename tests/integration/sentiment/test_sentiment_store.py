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


def test_features_join_reads_the_stored_agg_of_the_main_model_without_look_ahead(ops: StoreOps) -> None:
    import math

    from cluster.commands.features import join_stored_sentiment
    from cluster.store.schema_analytics import features_rows

    t0, hour = 1_656_892_800_000, 3_600_000
    specs = [("rss:a", t0 + 600_000, 0.5, 0.0), ("rss:b", t0 + 3_000_000, -0.1, math.e - 1),
             ("rss:c", t0 + hour, 1.0, 0.0)]  # c is stamped at the first candle's close: the next candle's
    texts = records_to_table([TextRecord(id=i, source="rss", ts=ts, author="", title=f"text {i}", body="", url="",
                                         engagement=e) for i, ts, _s, e in specs])
    store = SentimentStore(ops)
    store.insert_texts(texts)
    store.insert_text_symbols(pa.table({"text_id": [s[0] for s in specs], "symbol": ["BTC/USDT"] * 3,
                                        "confidence": pa.array([0.99] * 3, pa.float32()), "rule": ["cashtag"] * 3}))

    def scores(version: str, ids: list[int], value: float | None = None) -> pa.Table:
        sel = [specs[i] for i in ids]
        s = [value if value is not None else x[2] for x in sel]
        return pa.table({"text_id": [x[0] for x in sel], "model_version": [version] * len(sel),
                         "label": ["neutral"] * len(sel), "p_neg": [0.0] * len(sel), "p_neu": [1.0] * len(sel),
                         "p_pos": [0.0] * len(sel), "score": s, "ts": [x[1] for x in sel],
                         "engagement": [x[3] for x in sel], "lang": ["en"] * len(sel)})

    store.insert_sentiment(scores("main@1", [0, 1, 2]))
    store.insert_sentiment(scores("other@1", [0], value=-0.9))  # fewer texts: not the one joined
    feats = pa.table({"exchange": ["binance"] * 3, "symbol": ["BTC/USDT"] * 3, "timeframe": ["1h"] * 3,
                      "ts": [t0, t0 + hour, t0 + 2 * hour], "open": [1.0] * 3, "high": [1.0] * 3, "low": [1.0] * 3,
                      "close": [1.0] * 3, "volume": [1.0] * 3})

    joined = join_stored_sentiment(ops, feats, timeframes=["1h"], symbols=None).to_pylist()
    assert [r["sent_n"] for r in joined] == [2, 1, 0]
    assert joined[0]["sent_mean"] == pytest.approx(0.2, abs=1e-6)             # (0.5 - 0.1) / 2
    assert joined[0]["sent_engagement"] == pytest.approx(0.1, abs=1e-6)       # (0.5*1 - 0.1*2) / 3
    assert joined[1]["sent_mean"] == pytest.approx(1.0) and joined[2]["sent_mean"] is None
    stored = features_rows(pa.Table.from_pylist(joined), computed_at_ms=0).column("extra").to_pylist()
    assert dict(stored[0])["sent_mean"] == pytest.approx(0.2, abs=1e-6)     # kept in the features table's map
    untouched = join_stored_sentiment(ops, feats, timeframes=["1h"], symbols=["ETH/USDT"])  # no ETH sentiment
    assert untouched.column_names == feats.column_names
