"""The generic ccxt venue end to end: ccxt ids ``binance`` and ``coinbaseexchange`` forced through it.

Trade ids are opaque strings there (no id-jump gap detection, time-paged REST repair), so these runs
check that de-duplication by trade key, disconnect-driven gaps and the repair by time lose and
duplicate nothing, against the same simulator and store as the venue-module tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import polars as pl
import pytest
import redis.asyncio as aioredis

from actors.exchange_stream_opaque import OpaqueIdStreamCore
from cluster.bus import candle_stream
from cluster.sim import ExchangeSimulator, FaultConfig, SimConfig
from cluster.store import StoreOps
from tests.integration.ingest.conftest import expected_candles, make_runner, stored_candles

pytestmark = pytest.mark.integration

#: ccxt's binance loads spot, linear and inverse markets by default; the simulator serves spot only
BINANCE_SPOT = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}


async def _first_trades(runner: Any) -> None:
    while any(st.last_ts is None for st in runner.core.state.values()):
        await asyncio.sleep(0.01)


def _run(sim: ExchangeSimulator, exchange: str, ops: StoreOps, redis_url: str, **cfg: Any) -> tuple[Any, list[Any]]:
    symbols = tuple(sorted({t.symbol for t in sim.state.dataset.trades}))  # the replay starts once all subscribed

    async def main() -> tuple[Any, list[Any]]:
        redis = aioredis.Redis.from_url(redis_url)
        await sim.start()
        runner = make_runner(sim, exchange, symbols, ops, redis, venue="generic", **cfg)
        try:
            await runner.start()
            await asyncio.wait_for(sim.finished.wait(), 60)
            # a fresh start has no time to repair from until its first trade arrived; the replay may end
            # (speed 0) before ccxt.pro delivered it, so wait for that, then flush catches up from REST
            await asyncio.wait_for(_first_trades(runner), 30)
            await runner.flush()
        finally:
            await runner.stop()
            await sim.stop()
        entries = await redis.xrange(candle_stream(exchange))
        await redis.aclose()
        return runner, [(f[b"symbol"].decode(), int(f[b"ts"])) for _, f in entries if f[b"final"] == b"1"]

    return asyncio.run(main())


def test_generic_binance_candles_equal_polars_candles(store_ops: StoreOps, redis_url: str) -> None:
    """ccxt id ``binance`` through the generic venue: candles equal polars candles of the recorded trades."""
    sim = ExchangeSimulator(SimConfig(exchange="binance", speed=0, laps=8, start_after_symbols=3))

    runner, final = _run(sim, "binance", store_ops, redis_url, ccxt_options=BINANCE_SPOT)

    want = expected_candles(sim)
    got = stored_candles(store_ops, "binance")
    assert isinstance(runner.core, OpaqueIdStreamCore) and runner.transport == "ccxt"
    assert got.height == want.height == len(final) == len(set(final)) > 0
    assert got.drop("volume").equals(want.drop("volume"))
    assert ((got["volume"] - want["volume"]).abs() / want["volume"]).max() < 1e-9  # type: ignore[operator]
    # ids arrived as opaque strings: nothing was treated as an integer sequence
    assert all(st.last_id is None and st.checkpoint_id is None for st in runner.core.state.values())


def test_generic_coinbaseexchange_with_faults_loses_and_duplicates_nothing(store_ops: StoreOps,
                                                                           redis_url: str) -> None:
    """Disconnects, duplicated and out-of-order frames on ``coinbaseexchange``: 0 lost, 0 duplicated, gaps repaired."""
    faults = FaultConfig(disconnect_every=29, outage_msgs=3, duplicate_every=5, reorder_every=7,
                         malformed_every=11, http_429_every=6)
    sim = ExchangeSimulator(SimConfig(exchange="coinbase", speed=0, laps=3, start_after_symbols=10, faults=faults))

    runner, final = _run(sim, "coinbaseexchange", store_ops, redis_url)

    want = expected_candles(sim)
    got = stored_candles(store_ops, "coinbaseexchange")
    assert got.height == want.height > 0
    assert got.drop("volume").equals(want.drop("volume"))  # 0 lost: every trade in its candle
    assert len(final) == len(set(final)) == want.height  # 0 duplicated on the bus
    stats = sim.stats()
    assert stats["faults"]["disconnect"] >= 5 and stats["faults"]["duplicate"] >= 20
    assert stats["faults"]["reorder"] >= 10
    snap = runner.snapshot()
    assert sum(s["accepted"] for s in snap["symbols"].values()) == len(sim.state.dataset.trades)
    assert sum(s["duplicates"] for s in snap["symbols"].values()) > 0
    gaps = pl.from_arrow(store_ops.store.query_arrow(
        "SELECT * FROM data_gaps FINAL WHERE exchange = 'coinbaseexchange'"))
    assert isinstance(gaps, pl.DataFrame)
    assert gaps.height == runner.core.gaps_detected == runner.core.gaps_repaired > 0
    assert gaps["repaired_at"].null_count() == 0 and set(gaps["method"]) == {"rest_trades"}
