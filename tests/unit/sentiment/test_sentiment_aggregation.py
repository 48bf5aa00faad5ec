"""Sentiment buckets and their causal join onto candles."""

from __future__ import annotations

import math

import polars as pl
import pytest

from cluster.errors import SchemaError
from pipelines.sentiment.aggregation import aggregate_sentiment, join_sentiment

H = 3_600_000


def _scored() -> pl.DataFrame:
    return pl.DataFrame({
        "text_id": ["a", "b", "c", "c", "d", "e"],
        "symbol": ["BTC/USDT", "BTC/USDT", "BTC/USDT", "BTC/USDT", "ETH/USDT", "BTC/USDT"],
        "ts": [10 * 60_000, 50 * 60_000, 59 * 60_000, 59 * 60_000, 5 * 60_000, H],
        "score": [0.8, -0.4, 0.2, 0.2, -0.6, 0.5],
        "engagement": [0.0, 100.0, 3.0, 3.0, 0.0, 0.0],
    })


def test_bucket_statistics() -> None:
    agg = aggregate_sentiment(_scored(), timeframe="1h")
    btc0 = agg.filter((pl.col("symbol") == "BTC/USDT") & (pl.col("ts") == 0)).row(0, named=True)
    assert btc0["n"] == 3  # the duplicated text c counts once
    assert btc0["mean_score"] == pytest.approx((0.8 - 0.4 + 0.2) / 3)
    w = [1.0, 1 + math.log1p(100.0), 1 + math.log1p(3.0)]
    assert btc0["engagement_score"] == pytest.approx((0.8 * w[0] - 0.4 * w[1] + 0.2 * w[2]) / sum(w))
    d = [2 ** (-(H - t) / (H / 2)) for t in (10 * 60_000, 50 * 60_000, 59 * 60_000)]
    assert btc0["decayed_score"] == pytest.approx((0.8 * d[0] - 0.4 * d[1] + 0.2 * d[2]) / sum(d))
    # a text exactly at the next bucket's open belongs to that bucket
    assert agg.filter((pl.col("symbol") == "BTC/USDT") & (pl.col("ts") == H))["n"].to_list() == [1]
    assert agg.filter(pl.col("symbol") == "ETH/USDT")["mean_score"].to_list() == [pytest.approx(-0.6)]
    assert set(agg["timeframe"].to_list()) == {"1h"}


def test_aggregate_requires_columns() -> None:
    with pytest.raises(SchemaError):
        aggregate_sentiment(_scored().drop("engagement"), timeframe="1h")


def _candles(n: int) -> pl.DataFrame:
    return pl.DataFrame({"symbol": ["BTC/USDT"] * n + ["ETH/USDT"] * n, "timeframe": ["1h"] * (2 * n),
                         "ts": [i * H for i in range(n)] * 2, "close": [1.0] * (2 * n)})


def test_join_has_no_look_ahead() -> None:
    scored = _scored()
    full = join_sentiment(_candles(4), aggregate_sentiment(scored, timeframe="1h"), half_life_bars=2)
    # every text lies at or before the close of the candle it is joined to
    assert full.height == 8 and full["close"].to_list() == [1.0] * 8
    btc = full.filter(pl.col("symbol") == "BTC/USDT")
    assert btc["sent_n"].to_list() == [3, 1, 0, 0]
    assert btc["sent_mean"][2] is None
    # running score carries the past forward, decaying toward the latest buckets' values
    assert btc["sent_ewm"][2] == pytest.approx(btc["sent_ewm"][1])
    # dropping texts after t leaves every row at or before t unchanged
    cut = H - 1
    truncated = join_sentiment(_candles(4), aggregate_sentiment(scored.filter(pl.col("ts") <= cut), timeframe="1h"),
                               half_life_bars=2)
    before = pl.col("ts") + H <= cut + 1
    assert full.filter(before).equals(truncated.filter(before))


def test_join_rejects_bad_half_life() -> None:
    with pytest.raises(ValueError):
        join_sentiment(_candles(2), aggregate_sentiment(_scored(), timeframe="1h"), half_life_bars=0)
