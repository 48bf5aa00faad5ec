"""Incremental updates: registered consumers get every closed candle once, after it is stored."""

from __future__ import annotations

import asyncio
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
import redis.asyncio as aioredis

from cluster.sim import ExchangeSimulator, SimConfig
from cluster.store import StoreOps
from pipelines.candles_from_trades import candles_from_trades
from tests.integration.ingest.conftest import make_runner

pytestmark = pytest.mark.integration


def test_consumers_see_each_closed_candle_once_after_the_store(store_ops: StoreOps, redis_url: str) -> None:
    sim = ExchangeSimulator(SimConfig(exchange="coinbase", speed=0, start_after_symbols=10))
    symbols = tuple(sim.state.dataset.symbols())
    seen: list[pa.Table] = []
    stored_when_notified: list[int] = []

    async def main() -> None:
        redis = aioredis.Redis.from_url(redis_url)
        await sim.start()
        runner = make_runner(sim, "coinbase", symbols, store_ops, redis)

        def consumer(table: pa.Table) -> Any:
            seen.append(table)
            stored_when_notified.append(store_ops.count_candles())

        runner.sink.consumers.append(consumer)  # what ExchangeStream.register_consumer does with a handle
        try:
            await runner.start()
            await asyncio.wait_for(sim.finished.wait(), 60)
            # a clean replay: wait (bounded) until the stream has taken the frames (ccxt.pro may hold the newest
            # trade of each symbol until the next frame; flush's REST catch-up fetches those), then close all
            deadline = asyncio.get_running_loop().time() + 60
            while runner.snapshot()["msgs"] < sim.stats()["published"] - len(symbols):
                assert asyncio.get_running_loop().time() < deadline, runner.snapshot()
                await asyncio.sleep(0.01)
            await runner.flush()
        finally:
            await runner.stop()
            await sim.stop()
            await redis.aclose()

    asyncio.run(main())
    trades = pl.DataFrame([t._asdict() for t in sim.state.dataset.trades])
    want = candles_from_trades(trades).select("symbol", "ts").sort("symbol", "ts")
    got = pl.from_arrow(pa.concat_tables(seen)).select("symbol", "ts")
    assert isinstance(got, pl.DataFrame)
    assert got.height == want.height > 0  # each closed candle exactly once
    assert got.sort("symbol", "ts").equals(want)
    running = 0
    for table, stored in zip(seen, stored_when_notified, strict=True):
        running += table.num_rows
        assert stored >= running  # notified only after its batch reached the store
