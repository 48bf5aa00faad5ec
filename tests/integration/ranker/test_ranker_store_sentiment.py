"""The ranker reads the store's ``sentiment_agg``: `coinray rank` / `coinray report` on stored candles and scores.

Scores are inserted into ``sentiment`` (the materialized view builds the buckets); the expected
sentiment factor of each symbol is computed by hand from those scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from actors.sources.pipeline import SentimentStore
from cluster.cli import app
from cluster.settings import load_settings
from cluster.store import open_store
from serve.ranker_core import load_candle_files

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"
DAY = 86_400_000


def _score_rows(rows: list[tuple[str, str, int, float]]) -> tuple[pa.Table, pa.Table]:
    """(text_id, symbol, ts, score) -> ``text_symbols`` and ``sentiment`` rows."""
    n = len(rows)
    symbols = pa.table({"text_id": [r[0] for r in rows], "symbol": [r[1] for r in rows],
                        "confidence": pa.array([1.0] * n, pa.float32()), "rule": ["cashtag"] * n})
    scores = pa.table({
        "text_id": [r[0] for r in rows], "model_version": ["m1"] * n, "label": ["neutral"] * n,
        "p_neg": pa.array([0.0] * n, pa.float32()), "p_neu": pa.array([0.0] * n, pa.float32()),
        "p_pos": pa.array([0.0] * n, pa.float32()), "score": pa.array([r[3] for r in rows], pa.float32()),
        "ts": pa.array([r[2] for r in rows], pa.int64()), "engagement": [0.0] * n, "lang": ["en"] * n,
    })
    return symbols, scores


@pytest.fixture
def last_day() -> int:
    """The ranking's as-of bar (the newest 1d bar every symbol has), after storing the bundled 1d candles and
    the scores."""
    frame = load_candle_files(sorted(SAMPLE.glob("*-1d.feather")), exchange="binance")
    last = int(frame.group_by("symbol").agg(pl.col("ts").max()).get_column("ts").min())  # type: ignore[arg-type]
    ops = open_store(load_settings())
    try:
        ops.insert_candles(frame.to_arrow())
        store = SentimentStore(ops)
        text_symbols, scores = _score_rows([
            # BTC: one bucket on the last day (mean 0.4) and a text stamped at the last bar's close (next bucket)
            ("t1", "BTC/USDT", last + 3_600_000, 0.5), ("t2", "BTC/USDT", last + 7_200_000, 0.25),
            ("t3", "BTC/USDT", last + DAY, -0.75),
            # ETH: +0.5 two days before the last day, -0.5 one day before (half-life one day)
            ("t4", "ETH/USDT", last - 2 * DAY + 60_000, 0.5), ("t5", "ETH/USDT", last - DAY + 60_000, -0.5),
        ])
        store.insert_text_symbols(text_symbols)
        store.insert_sentiment(scores)
    finally:
        ops.store.close()
    return last


def test_rank_uses_stored_sentiment_without_look_ahead(last_day: int) -> None:
    result = CliRunner().invoke(app, ["rank", "--timeframe", "1d", "--top", "10", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["as_of_ts"] == last_day
    assert "sentiment component used" in out["notes"]
    factors = {item["symbol"]: item["factors"] for item in out["top"]}
    # by hand: BTC's only complete bucket by the last close is the last day's: (0.5 + 0.25) / 2; the text
    # stamped exactly at the close belongs to the next bucket and is left out
    assert factors["BTC/USDT"]["sentiment"] == pytest.approx(0.375, abs=1e-6)
    # ETH: (0.5 * 0.5 - 0.5 * 1) / (0.5 + 1) with a one-day half-life
    assert factors["ETH/USDT"]["sentiment"] == pytest.approx(-1 / 6, abs=1e-6)
    # symbols without texts get no sentiment
    assert all(f["sentiment"] == 0.0 for s, f in factors.items() if s not in ("BTC/USDT", "ETH/USDT"))


def test_no_sentiment_flag_and_report_with_sentiment(last_day: int, tmp_path: Path) -> None:
    off = CliRunner().invoke(app, ["rank", "--timeframe", "1d", "--top", "3", "--no-sentiment", "--json"])
    assert off.exit_code == 0, off.output
    assert "no sentiment aggregates: ensemble = statistical + XGBoost only" in json.loads(
        off.output.strip().splitlines()[-1])["notes"]
    rep = CliRunner().invoke(app, ["report", "--timeframe", "1d", "--top", "3", "--formats", "json"])
    assert rep.exit_code == 0, rep.output
    report = json.loads(Path(json.loads(rep.output.strip().splitlines()[-1])["paths"]["json"]).read_text())
    assert "sentiment component used" in json.dumps(report)


def test_serve_ranker_loads_sentiment_through_the_store_actor(last_day: int, ray_local: None,
                                                              tmp_path: Path) -> None:
    import ray

    from actors.store_writer import start_store_writer
    from pipelines.models.ensemble import EnsembleConfig
    from pipelines.models.xgb import XGBConfig
    from pipelines.recommend import RankerConfig
    from serve.app import AppArgs
    from serve.ranker import load_features, load_sentiment_agg
    from serve.ranker_core import RankerCore, RankerServiceConfig

    store = start_store_writer(load_settings())
    try:
        ranker = RankerConfig(top_n=9, ensemble=EnsembleConfig(horizon_bars=5, xgb=XGBConfig(n_estimators=40,
                                                                                           n_jobs=1)))
        args = AppArgs(service=RankerServiceConfig(timeframes=("1d",), ranker=ranker), store_namespace="coinray-test")
        agg = load_sentiment_agg(args)
        assert agg is not None and set(agg.get_column("symbol").unique()) == {"BTC/USDT", "ETH/USDT"}
        core = RankerCore(load_features(args), args.service, reports_dir=tmp_path, sentiment_agg=agg)
        top = {t["symbol"]: t["factors"] for t in core.rankings(timeframe="1d", top=9)["top"]}
        assert top["BTC/USDT"]["sentiment"] == pytest.approx(0.375, abs=1e-6)
        assert top["ETH/USDT"]["sentiment"] == pytest.approx(-1 / 6, abs=1e-6)
    finally:
        ray.get(store.close.remote())
        ray.kill(store)
