"""Streaming through the simulator: clean replay, the fault suite and gap repair, end to end.

ccxt.pro talks to the simulator unmodified (URL overrides only); candles go to a real chdb store
and a real Redis server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import redis.asyncio as aioredis

from cluster.bus import candle_stream
from cluster.sim import ExchangeSimulator, FaultConfig, SimConfig
from cluster.store import StoreOps
from pipelines.candles_from_trades import candles_from_trades
from tests.integration.ingest.conftest import expected_candles, make_runner, run_to_end, stored_candles

pytestmark = pytest.mark.integration

FAULTS = FaultConfig(disconnect_every=211, outage_msgs=5, malformed_every=97, unknown_every=89,
                     duplicate_every=53, reorder_every=41, http_429_every=7, http_5xx_every=11)


def _assert_equal(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got.height == want.height > 0
    assert got.drop("volume").equals(want.drop("volume"))
    assert ((got["volume"] - want["volume"]).abs() / want["volume"]).max() < 1e-9  # type: ignore[operator]


async def _redis_final(redis: Any, exchange: str) -> list[tuple[str, int]]:
    entries = await redis.xrange(candle_stream(exchange))
    return [(f[b"symbol"].decode(), int(f[b"ts"])) for _, f in entries if f[b"final"] == b"1"]


async def _stream(sims: list[ExchangeSimulator], specs: list[tuple[str, tuple[str, ...]]], ops: StoreOps,
                  redis: Any, transport: str = "auto") -> list[Any]:
    for sim in sims:
        await sim.start()
    runners = [make_runner(sim, name, symbols, ops, redis, transport=transport)
               for sim, (name, symbols) in zip(sims, specs, strict=True)]
    try:
        await asyncio.gather(*(run_to_end(sim, r) for sim, r in zip(sims, runners, strict=True)))
    finally:
        for runner in runners:
            await runner.stop()
        for sim in sims:
            await sim.stop()
    return runners


@pytest.mark.parametrize("transport", ["native", "ccxt"])
def test_bundled_coinbase_recording_with_faults(transport: str, store_ops: StoreOps, redis_url: str) -> None:
    """Fresh-clone variant: the bundled Coinbase recording (10 products) with every WS fault kind, both transports."""
    faults = FaultConfig(disconnect_every=23, outage_msgs=3, malformed_every=7, unknown_every=5,
                         duplicate_every=4, reorder_every=6, http_429_every=3, http_5xx_every=4)
    sim = ExchangeSimulator(SimConfig(exchange="coinbase", speed=0, start_after_symbols=10, faults=faults))
    symbols = tuple(sim.state.dataset.symbols())

    async def main() -> list[Any]:
        redis = aioredis.Redis.from_url(redis_url)
        try:
            runners = await _stream([sim], [("coinbase", symbols)], store_ops, redis, transport)
            return [runners, await _redis_final(redis, "coinbase")]
        finally:
            await redis.aclose()

    runners, final = asyncio.run(main())
    _assert_equal(stored_candles(store_ops, "coinbase"), expected_candles(sim))
    assert len(final) == len(set(final)) == expected_candles(sim).height
    stats = sim.stats()
    assert stats["faults_total"] >= 40 and {"disconnect", "malformed", "unknown", "duplicate", "reorder"} <= \
        set(stats["faults"])
    assert runners[0].core.parse_errors == stats["faults"]["malformed"]
    assert runners[0].transport == transport


def test_fault_suite_two_exchanges_concurrently(store_ops: StoreOps, redis_url: str, shared_data: Path) -> None:
    """>=100 faults on Binance and Coinbase at once: final candles equal the clean run, 0 lost, 0 duplicated."""
    trades_file = shared_data / "ohlcv" / "freqtrade_testdata" / "XRP_ETH-trades.feather"
    sims = [ExchangeSimulator(SimConfig(exchange=name, speed=0, trades_file=trades_file, trades_symbol="XRP/ETH",
                                        faults=FAULTS)) for name in ("binance", "coinbase")]

    async def main() -> list[Any]:
        redis = aioredis.Redis.from_url(redis_url)
        try:
            runners = await _stream(sims, [("binance", ("XRP/ETH",)), ("coinbase", ("XRP/ETH",))], store_ops, redis)
            return [runners, await _redis_final(redis, "binance"), await _redis_final(redis, "coinbase")]
        finally:
            await redis.aclose()

    runners, final_binance, final_coinbase = asyncio.run(main())
    clean = expected_candles(sims[0])
    recorded = pl.read_ipc(shared_data / "ohlcv" / "freqtrade_testdata" / "XRP_ETH-1m.feather")
    assert clean.height == recorded.height == 2469
    for name, final in (("binance", final_binance), ("coinbase", final_coinbase)):
        _assert_equal(stored_candles(store_ops, name), clean)
        assert len(final) == len(set(final)) == clean.height  # 0 duplicated on the bus
    faults = [s.stats() for s in sims]
    assert sum(f["faults_total"] for f in faults) >= 100
    assert all(f["faults_total"] >= 100 and f["faults"]["disconnect"] >= 50 for f in faults)
    gaps = pl.from_arrow(store_ops.store.query_arrow("SELECT * FROM data_gaps FINAL"))
    assert isinstance(gaps, pl.DataFrame)
    assert gaps.height == sum(r.core.gaps_detected for r in runners) > 0
    assert gaps["repaired_at"].null_count() == 0 and set(gaps["method"]) == {"rest_trades"}
    assert set(gaps["exchange"]) == {"binance", "coinbase"}
    # higher timeframes come from the store's rollups of the streamed 1m candles
    hourly = pl.from_arrow(store_ops.read_candles(timeframe="1h", exchange="binance", complete_only=False))
    want = candles_from_trades(pl.DataFrame([t._asdict() for t in sims[0].state.dataset.trades]), timeframe="1h")
    assert isinstance(hourly, pl.DataFrame)
    assert hourly.select("ts", "open", "high", "low", "close").equals(want.select("ts", "open", "high", "low", "close"))


def test_native_transport_survives_truncated_json_and_stalls(store_ops: StoreOps, redis_url: str) -> None:
    """Truncated JSON is a counted parse error (the connection lives on); a stall trips the staleness watchdog."""
    faults = FaultConfig(truncated_every=9, malformed_every=13, stall_every=40, stall_s=0.6, outage_msgs=0)
    sim = ExchangeSimulator(SimConfig(exchange="coinbase", speed=0, start_after_symbols=10, faults=faults))
    symbols = tuple(sim.state.dataset.symbols())

    async def main() -> Any:
        redis = aioredis.Redis.from_url(redis_url)
        await sim.start()
        runner = make_runner(sim, "coinbase", symbols, store_ops, redis, transport="native", stale_after_s=0.3)
        try:
            await run_to_end(sim, runner)
            return runner
        finally:
            await runner.stop()
            await sim.stop()
            await redis.aclose()

    runner = asyncio.run(main())
    stats = sim.stats()
    _assert_equal(stored_candles(store_ops, "coinbase"), expected_candles(sim))
    assert stats["faults"]["truncated"] > 0 and stats["faults"]["stall"] > 0
    assert runner.core.parse_errors == stats["faults"]["truncated"] + stats["faults"]["malformed"]
    assert runner.core.reconnects >= 1  # the watchdog dropped the silent connection
    assert runner.snapshot()["failed"] is None
