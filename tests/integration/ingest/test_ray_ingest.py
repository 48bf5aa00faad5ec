"""Ray: backfill as parallel tasks through the store actor, and an ExchangeStream actor killed mid-stream."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import polars as pl
import pytest
import ray
import redis

from actors.backfill import run_backfill
from actors.backfill_core import BackfillConfig, parse_date_ms
from actors.exchange_stream import ExchangeStream
from actors.exchange_stream_core import StreamConfig
from actors.store_writer import start_store_writer
from cluster.bus import candle_stream
from cluster.settings import load_settings
from cluster.sim import ExchangeSimulator, FaultConfig, SimConfig
from pipelines.candles_from_trades import candles_from_trades
from tests.integration.ingest.conftest import SimThread

pytestmark = pytest.mark.integration
T = TypeVar("T")
COLS = ["ts", "open", "high", "low", "close", "trades"]


@pytest.fixture(scope="module", autouse=True)
def _own_ray_instance() -> Iterator[None]:
    """Start a private local Ray even when another process on this machine runs one (shared dev boxes)."""
    old = os.environ.get("RAY_ADDRESS")
    os.environ["RAY_ADDRESS"] = "local"
    yield
    if old is None:
        os.environ.pop("RAY_ADDRESS", None)
    else:
        os.environ["RAY_ADDRESS"] = old


def _when_up(call: Callable[[], T], attempts: int = 200) -> T:
    """Call an actor method, retrying while Ray reports the actor as restarting."""
    for _ in range(attempts - 1):
        try:
            return call()
        except (ray.exceptions.ActorUnavailableError, ray.exceptions.RayActorError):
            ray.get(ray.put(None))  # a round trip to the raylet instead of a sleep
    return call()


def test_backfill_runs_as_parallel_ray_tasks_and_resumes(ray_local: None) -> None:
    store = start_store_writer(load_settings())
    sim = SimThread(ExchangeSimulator(SimConfig(exchange="binance", speed=0,
                                                faults=FaultConfig(http_5xx_every=9))))
    try:
        cfg = BackfillConfig(exchange="binance", symbols=("BTC/USDT", "ETH/USDT"), timeframes=("1h", "1d"),
                             since_ms=parse_date_ms("2024-01-01"), until_ms=parse_date_ms("2024-02-01"),
                             rest_url=sim.sim.rest_url, parallelism=4)
        seen: list[str] = []
        first = run_backfill(cfg, store, on_done=lambda r: seen.append(f"{r.symbol} {r.timeframe}"))
        again = run_backfill(cfg, store)
    finally:
        sim.stop()
    assert sorted(seen) == ["BTC/USDT 1d", "BTC/USDT 1h", "ETH/USDT 1d", "ETH/USDT 1h"]
    assert {(r.timeframe, r.rows) for r in first} == {("1h", 744), ("1d", 31)}
    assert all(r.resumed and r.rows == 0 for r in again)
    stored = ray.get(store.read_candles.remote(timeframe="1h", exchange="binance", symbols=["BTC/USDT"]))
    assert stored.num_rows == 744


def test_stream_actor_killed_mid_stream_resumes_with_same_candles(ray_local: None, redis_url: str,
                                                                  shared_data: Path) -> None:
    trades_file = shared_data / "ohlcv" / "freqtrade_testdata" / "XRP_ETH-trades.feather"
    faults = FaultConfig(disconnect_every=997, duplicate_every=101, reorder_every=89, malformed_every=301)
    sim = SimThread(ExchangeSimulator(SimConfig(exchange="binance", speed=0, trades_file=trades_file,
                                                trades_symbol="XRP/ETH", faults=faults)))
    store = start_store_writer(load_settings())
    cfg = StreamConfig(exchange="binance", symbols=("XRP/ETH",), rest_url=sim.sim.rest_url, ws_url=sim.sim.ws_url,
                       max_retries=None, backoff_initial_s=0.01, backoff_max_s=0.05, flush_interval_s=0.05)
    try:
        actor = ExchangeStream.options(name="stream:binance").remote(cfg, redis_url, store)  # type: ignore[attr-defined]
        while ray.get(actor.snapshot.remote())["msgs"] < 3000:
            pass
        ray.kill(actor, no_restart=False)
        after_restart = _when_up(lambda: ray.get(actor.snapshot.remote()))
        sim.wait_finished(180)
        ray.get(actor.flush.remote())
        snap = ray.get(actor.snapshot.remote())
        ray.get(actor.stop.remote())
    finally:
        sim.stop()
    assert after_restart["msgs"] < 3000 or after_restart["symbols"]["XRP/ETH"]["checkpoint_id"] is not None
    trades = pl.DataFrame([t._asdict() for t in sim.sim.state.dataset.trades])
    want = candles_from_trades(trades).select(COLS)
    got = pl.from_arrow(ray.get(store.read_candles.remote(timeframe="1m", exchange="binance")))
    assert isinstance(got, pl.DataFrame)
    assert got.select(COLS).with_columns(pl.col("trades").cast(pl.UInt64)).equals(want)
    client = redis.Redis.from_url(redis_url)
    final = [(f[b"symbol"], f[b"ts"]) for _, f in client.xrange(candle_stream("binance")) if f[b"final"] == b"1"]
    client.close()
    assert len(final) == len(set(final)) == want.height
    assert snap["failed"] is None
    gaps = ray.get(store.query_arrow.remote("SELECT count() AS n, countIf(repaired_at IS NULL) AS open "
                                            "FROM data_gaps FINAL WHERE exchange = 'binance'"))
    assert gaps.column("n")[0].as_py() >= 1 and gaps.column("open")[0].as_py() == 0
