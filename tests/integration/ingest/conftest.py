"""Fixtures of the ingestion integration tests: a real Redis server, a chdb store and stream helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from actors.exchange_stream import BusStoreSink, StreamRunner
from actors.exchange_stream_core import StreamConfig
from cluster.bus import ManagedRedis
from cluster.settings import BusConfig, load_settings
from cluster.sim import ExchangeSimulator
from cluster.store import StoreOps, open_store
from pipelines.candles_from_trades import candles_from_trades


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real valkey/redis server process in ``tmp_path``."""
    server = ManagedRedis(tmp_path / "redis", BusConfig())
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
def store_ops() -> Iterator[StoreOps]:
    """A migrated chdb store in the test's data dir."""
    ops = open_store(load_settings())
    yield ops
    ops.store.close()


# chdb's Python() table function reads the inserted batch from the caller's frame: one thread only
_STORE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-store")


async def no_sleep(_: float) -> None:
    """Backoff sleep that returns at once (time is not what these tests exercise)."""


def make_runner(sim: ExchangeSimulator, exchange: str, symbols: tuple[str, ...], ops: StoreOps, redis: Any,
                **cfg: Any) -> StreamRunner:
    """A StreamRunner on ``sim`` writing into ``ops`` (chdb) and ``redis``."""

    async def insert_candles(table: pa.Table) -> int:
        return await asyncio.get_running_loop().run_in_executor(_STORE_THREAD, ops.insert_candles, table)

    async def insert_gaps(table: pa.Table) -> int:
        return await asyncio.get_running_loop().run_in_executor(_STORE_THREAD, ops.store.insert_arrow,
                                                                "data_gaps", table)

    config = StreamConfig(exchange=exchange, symbols=symbols, rest_url=sim.rest_url, ws_url=sim.ws_url,
                          max_retries=None, **cfg)
    sink = BusStoreSink(exchange, redis, insert_candles, insert_gaps)
    return StreamRunner(config, sink, sleep=no_sleep)


async def run_to_end(sim: ExchangeSimulator, runner: StreamRunner, timeout_s: float = 120.0) -> None:
    """Start ``runner``, wait until the simulator has replayed everything, then flush (REST catch-up)."""
    await runner.start()
    await asyncio.wait_for(sim.finished.wait(), timeout_s)
    await runner.flush()


class SimThread:
    """A simulator on its own event loop in a background thread (for Ray tests, whose actors connect to it)."""

    def __init__(self, sim: ExchangeSimulator) -> None:
        import threading

        self.sim = sim
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._call(sim.start(), 30)

    def _call(self, coro: Any, timeout_s: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def wait_finished(self, timeout_s: float) -> None:
        """Block until the replay has published every trade."""
        self._call(self.sim.finished.wait(), timeout_s)

    def stop(self) -> None:
        """Stop the simulator and its loop."""
        self._call(self.sim.stop(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


CANDLE_COLS = ["symbol", "ts", "open", "high", "low", "close", "volume", "trades"]


def stored_candles(ops: StoreOps, exchange: str) -> pl.DataFrame:
    """The stored 1m candles of ``exchange`` (:data:`CANDLE_COLS`), sorted by symbol and ts."""
    frame = pl.from_arrow(ops.read_candles(timeframe="1m", exchange=exchange))
    assert isinstance(frame, pl.DataFrame)
    return frame.select(CANDLE_COLS).sort("symbol", "ts")


def expected_candles(sim: ExchangeSimulator) -> pl.DataFrame:
    """1m candles built with polars from every trade ``sim`` replays (:data:`CANDLE_COLS`)."""
    trades = pl.DataFrame([t._asdict() for t in sim.state.dataset.trades])
    return candles_from_trades(trades).select(CANDLE_COLS)
