"""Sentiment columns on the feature frame: hand-computed buckets, running score, and no look-ahead."""

from __future__ import annotations

import math

import polars as pl
import pytest

from pipelines.features import SENTIMENT_FEATURES, add_sentiment_features
from pipelines.sentiment.aggregation import aggregate_sentiment

T0 = 1_656_892_800_000  # 2022-07-04 00:00 UTC (a 1d boundary)
H, MIN = 3_600_000, 60_000
E_MINUS_1 = math.e - 1  # engagement whose weight 1 + ln(1 + e) is exactly 2


def _scored(extra: list[tuple[str, int, float]] = ()) -> pl.DataFrame:  # type: ignore[assignment]
    rows = [("a", T0 + 10 * MIN, 0.5, 0.0), ("b", T0 + 50 * MIN, -0.1, E_MINUS_1), ("c", T0 + H, 1.0, 0.0)]
    rows += [(i, ts, s, 0.0) for i, ts, s in extra]
    return pl.DataFrame({"text_id": [r[0] for r in rows], "symbol": ["BTC/USDT"] * len(rows),
                         "ts": [r[1] for r in rows], "score": [r[2] for r in rows],
                         "engagement": [r[3] for r in rows]})


def _features() -> pl.DataFrame:
    # deliberately unsorted, two symbols, two timeframes, as `coinray features` produces them
    return pl.DataFrame({
        "exchange": ["binance"] * 6,
        "symbol": ["BTC/USDT", "ETH/USDT", "BTC/USDT", "BTC/USDT", "BTC/USDT", "ETH/USDT"],
        "timeframe": ["1h", "1h", "1h", "1h", "1d", "1d"],
        "ts": [T0 + H, T0, T0, T0 + 2 * H, T0, T0],
        "rsi_14": [55.0, 40.0, 50.0, 60.0, 52.0, 41.0],
    })


def _agg(scored: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([aggregate_sentiment(scored, timeframe=tf) for tf in ("1h", "1d")])


def test_hand_computed_sentiment_columns() -> None:
    out = add_sentiment_features(_features(), _agg(_scored()))
    assert out.columns == [*_features().columns, *SENTIMENT_FEATURES]
    assert out.select(_features().columns).equals(_features())  # rows and order kept
    rows = {(r["symbol"], r["timeframe"], r["ts"]): r for r in out.iter_rows(named=True)}

    first = rows[("BTC/USDT", "1h", T0)]
    # texts a (0.5, weight 1) and b (-0.1, weight 2); c is stamped at the candle's close -> next candle
    assert first["sent_n"] == 2
    assert first["sent_mean"] == pytest.approx((0.5 - 0.1) / 2)
    assert first["sent_engagement"] == pytest.approx((0.5 * 1 - 0.1 * 2) / 3)
    wa, wb = 2 ** (-50 / 30), 2 ** (-10 / 30)  # half-life = half a bar = 30 min, ages from the bar close
    assert first["sent_decayed"] == pytest.approx((0.5 * wa - 0.1 * wb) / (wa + wb))
    assert first["sent_ewm"] == pytest.approx(0.2)

    d = 0.5 ** (1 / 24)  # running score halves every 24 bars
    second = rows[("BTC/USDT", "1h", T0 + H)]
    assert (second["sent_n"], second["sent_mean"]) == (1, 1.0)
    assert second["sent_ewm"] == pytest.approx((0.4 * d + 1.0) / (2 * d + 1))
    third = rows[("BTC/USDT", "1h", T0 + 2 * H)]
    assert (third["sent_n"], third["sent_mean"]) == (0, None)
    assert third["sent_ewm"] == pytest.approx((0.4 * d * d + d) / (2 * d * d + d))  # carried, decayed

    daily = rows[("BTC/USDT", "1d", T0)]
    assert daily["sent_n"] == 3 and daily["sent_mean"] == pytest.approx((0.5 - 0.1 + 1.0) / 3)
    for key in (("ETH/USDT", "1h", T0), ("ETH/USDT", "1d", T0)):
        assert rows[key]["sent_n"] == 0 and rows[key]["sent_mean"] is None and rows[key]["sent_ewm"] is None


def test_a_text_after_the_candle_close_never_reaches_it() -> None:
    base = add_sentiment_features(_features(), _agg(_scored()))
    late = add_sentiment_features(_features(), _agg(_scored([("late", T0 + H + 1, -1.0)])))
    inside = add_sentiment_features(_features(), _agg(_scored([("inside", T0 + H - 1, -1.0)])))

    def row(frame: pl.DataFrame, ts: int) -> dict[str, object]:
        return frame.filter((pl.col("symbol") == "BTC/USDT") & (pl.col("timeframe") == "1h")
                            & (pl.col("ts") == ts)).row(0, named=True)

    assert row(late, T0) == row(base, T0)  # stamped 1 ms after the first candle closed
    assert row(late, T0 + H)["sent_n"] == 2 and row(late, T0 + H)["sent_mean"] == pytest.approx(0.0)
    assert row(inside, T0)["sent_n"] == 3  # 1 ms before the close: counted
    assert row(inside, T0)["sent_mean"] == pytest.approx((0.5 - 0.1 - 1.0) / 3)


def test_no_sentiment_rows_give_empty_columns() -> None:
    empty = _agg(_scored()).clear()
    out = add_sentiment_features(_features(), empty)
    assert out["sent_n"].to_list() == [0] * 6 and out["sent_ewm"].null_count() == 6
