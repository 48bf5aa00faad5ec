"""``coinray bench ingest``: streaming ingestion throughput, latency and exactly-once under faults.

Against the local simulator in its own process (flooding on localhost), measured in one run:

- ``baseline_msgs_per_s``: bare ccxt.pro ``watch_trades`` in a loop, no processing (the baseline);
- ``msgs_per_s``: the same flood through ``StreamRunner`` (the code an ``ExchangeStream`` actor runs):
  ccxt.pro decode -> trade conversion -> de-dup/gap check -> 1m candles -> Redis publish -> chdb insert;
- ``p50_ms``/``p99_ms``: exchange timestamp -> Redis publish of the candle holding the trade, with the
  simulator publishing at a fixed 10k msg/s and stamping trades with the wall clock;
- ``lost``/``duplicated``/``faults_injected``: a flood with >= 100 injected faults, candles compared
  with polars candles from the same trades and Redis final entries checked for duplicates.

Data: the bundled cryptofeed Coinbase recording (107 trades) replayed in laps (ids and times shifted
per lap) so the flood is long enough to measure.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cluster.settings import CoinraySettings

BASELINE = "bare ccxt.pro watch_trades loop (no processing) against the same simulator flood"
EXCHANGE = "coinbase"
SYMBOLS_WANTED = 10


def _serve(cfg_json: str, port_q: Any, stop: Any) -> None:
    """Child process: run one simulator until ``stop`` is set."""
    from cluster.logging import configure_logging
    from cluster.sim import ExchangeSimulator, SimConfig

    configure_logging("ERROR", rich=False)

    async def main() -> None:
        sim = ExchangeSimulator(SimConfig.model_validate_json(cfg_json))
        await sim.start()
        port_q.put(sim.port)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await sim.stop()

    asyncio.run(main())


class _SimProcess:
    """The simulator in its own process (the exchange side of the benchmark, on localhost)."""

    def __init__(self, cfg: Any) -> None:
        ctx = mp.get_context("spawn")
        self.stop_event = ctx.Event()
        port_q = ctx.Queue()
        self.proc = ctx.Process(target=_serve, args=(cfg.model_dump_json(), port_q, self.stop_event), daemon=True)
        self.proc.start()
        self.port = int(port_q.get(timeout=120))
        self.rest = f"http://127.0.0.1:{self.port}"

    async def stats(self) -> dict[str, Any]:
        import aiohttp

        async with aiohttp.ClientSession() as session, session.get(f"{self.rest}/_sim/stats") as resp:
            return dict(await resp.json())

    def close(self) -> None:
        self.stop_event.set()
        self.proc.join(20)
        if self.proc.is_alive():
            self.proc.terminate()


def _sim_cfg(laps: int, **kw: Any) -> Any:
    from cluster.sim import SimConfig

    return SimConfig(exchange=EXCHANGE, speed=0, laps=laps, start_after_symbols=SYMBOLS_WANTED, **kw)


async def _wait_done(sim: _SimProcess, timeout_s: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        stats = await sim.stats()
        if stats["done"] or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.05)


async def _drained(value: Any, quiet_s: float = 0.3) -> float:
    """Wait until ``value()`` stops changing for ``quiet_s``; return the time of its last change."""
    last, changed = value(), time.perf_counter()
    while time.perf_counter() - changed < quiet_s:
        await asyncio.sleep(0.01)
        now = value()
        if now != last:
            last, changed = now, time.perf_counter()
    return changed


async def _baseline(laps: int, symbols: list[str]) -> dict[str, Any]:
    """Bare ccxt.pro: one watch_trades loop per symbol, counting trades, nothing else."""
    import ccxt.pro as ccxtpro

    from actors.exchanges import coinbase

    sim = _SimProcess(_sim_cfg(laps))
    client = ccxtpro.coinbaseexchange({"options": dict(coinbase.CCXT_OPTIONS)})
    client.urls["api"].update(coinbase.ccxt_urls(sim.rest, sim.rest.replace("http", "ws")))
    count = 0
    first: float | None = None
    try:
        await client.load_markets()
        total = 107 * laps

        async def loop(symbol: str) -> None:
            nonlocal count, first
            while count < total:
                trades = await client.watch_trades(symbol)
                first = first or time.perf_counter()
                count += len(trades)

        tasks = [asyncio.create_task(loop(s)) for s in symbols]
        await _wait_done(sim)
        last_change = await _drained(lambda: count)
        elapsed = last_change - (first or last_change)
        for task in tasks:
            task.cancel()
    finally:
        await client.close()
        sim.close()
    return {"msgs": count, "elapsed_s": elapsed, "msgs_per_s": count / elapsed if elapsed else 0.0}


async def _ours(settings: CoinraySettings, laps: int, symbols: list[str], *, faults: Any = None,
                rate_per_s: float | None = None, live_ts: bool = False) -> dict[str, Any]:
    import polars as pl
    import redis.asyncio as aioredis

    from actors.exchange_stream import BusStoreSink, StreamRunner
    from actors.exchange_stream_core import StreamConfig
    from cluster.bus import ManagedRedis, candle_stream
    from cluster.sim import FaultConfig
    from cluster.sim.dataset import load_recorded_trades, repeat_laps
    from cluster.store import open_store
    from pipelines.candles_from_trades import candles_from_trades

    tmp = Path(tempfile.mkdtemp(prefix="coinray-bench-"))
    redis_server = ManagedRedis(tmp / "redis", settings.bus)
    redis_url = redis_server.start()
    ops = open_store(settings.model_copy(update={"data_dir": tmp}))
    sim = _SimProcess(_sim_cfg(laps, faults=faults or FaultConfig(), rate_per_s=rate_per_s,
                               live_timestamps=live_ts))
    redis = aioredis.Redis.from_url(redis_url)

    store_thread = ThreadPoolExecutor(max_workers=1)  # chdb inserts: off the event loop, one thread only

    async def insert_candles(table: Any) -> int:
        return await asyncio.get_running_loop().run_in_executor(store_thread, ops.insert_candles, table)

    async def insert_gaps(table: Any) -> int:
        return await asyncio.get_running_loop().run_in_executor(store_thread, ops.store.insert_arrow,
                                                                "data_gaps", table)

    async def no_sleep(_: float) -> None:
        return None

    sink = BusStoreSink(EXCHANGE, redis, insert_candles, insert_gaps)
    sink.record_latency = live_ts
    cfg = StreamConfig(exchange=EXCHANGE, symbols=tuple(symbols), rest_url=sim.rest,
                       ws_url=sim.rest.replace("http", "ws"), max_retries=None, stale_after_s=3.0)
    runner = StreamRunner(cfg, sink, sleep=no_sleep)
    try:
        await runner.start()
        while runner.core.msgs_total == 0:
            await asyncio.sleep(0.001)
        t_first = time.perf_counter()
        stats = await _wait_done(sim)
        last_change = await _drained(lambda: runner.core.msgs_total)
        ws_msgs = runner.core.msgs_total
        flush_started = time.perf_counter()
        await runner.flush()  # REST catch-up of trades ccxt still holds, then close every candle
        elapsed = (last_change - t_first) + (time.perf_counter() - flush_started)
        stream_s, flush_s = last_change - t_first, time.perf_counter() - flush_started
        msgs = runner.core.msgs_total
        await runner.stop()
        entries = await redis.xrange(candle_stream(EXCHANGE))
        final = [(f[b"symbol"], f[b"ts"]) for _, f in entries if f[b"final"] == b"1"]
        expected = candles_from_trades(pl.DataFrame([t._asdict() for t in repeat_laps(
            load_recorded_trades(EXCHANGE), laps)])) if not live_ts else None
        stored = pl.from_arrow(ops.read_candles(timeframe="1m", exchange=EXCHANGE))
        stats = await sim.stats()
    finally:
        await redis.aclose()
        sim.close()
        ops.store.close()
        redis_server.stop()
    out: dict[str, Any] = {"msgs": msgs, "elapsed_s": elapsed, "stream_s": stream_s, "flush_s": flush_s,
                           "ws_msgs": ws_msgs, "ws_msgs_per_s": ws_msgs / stream_s if stream_s else 0.0,
                           "msgs_per_s": msgs / elapsed if elapsed else 0.0,
                           "faults_injected": stats["faults_total"], "faults": stats["faults"]}
    if expected is not None and isinstance(stored, pl.DataFrame):
        want = int(expected["trades"].sum())
        got = int(stored["trades"].sum())
        out["lost"] = max(want - got, 0) + max(expected.height - stored.height, 0)
        out["duplicated"] = (len(final) - len(set(final))) + max(got - want, 0)
        out["candles_equal"] = stored.select("symbol", "ts", "open", "high", "low", "close").sort("symbol", "ts") \
            .equals(expected.select("symbol", "ts", "open", "high", "low", "close"))
    if live_ts and sink.live_latency_ms:
        lat = sorted(sink.live_latency_ms)
        out["p50_ms"] = float(statistics.median(lat))
        out["p99_ms"] = float(lat[min(len(lat) - 1, int(len(lat) * 0.99))])
        out["latency_samples"] = len(lat)
    return out


def run(settings: CoinraySettings, *, quick: bool) -> dict[str, Any]:
    """Run baseline and coinray in the same session and return one JSON-serialisable object."""
    from cluster.sim import FaultConfig
    from cluster.sim.dataset import load_recorded_trades

    symbols = sorted({t.symbol for t in load_recorded_trades(EXCHANGE)})
    laps = 200 if quick else 1000
    faults = FaultConfig(disconnect_every=997, outage_msgs=5, malformed_every=211, unknown_every=307,
                         duplicate_every=101, reorder_every=89, http_429_every=5, http_5xx_every=7)

    async def main() -> dict[str, Any]:
        base = await _baseline(laps, symbols)
        clean = await _ours(settings, laps, symbols)
        faulty = await _ours(settings, max(laps // 2, 100), symbols, faults=faults)
        latency = await _ours(settings, 300 if quick else 1000, symbols, rate_per_s=10_000, live_ts=True)
        return {
            "bench": "ingest", "baseline": BASELINE, "exchange": EXCHANGE, "symbols": len(symbols),
            "host": "StreamRunner in-process (the code the ExchangeStream actor runs); simulator in a subprocess",
            "msgs_per_s": round(clean["msgs_per_s"]), "baseline_msgs_per_s": round(base["msgs_per_s"]),
            "ws_phase_msgs_per_s": round(clean["ws_msgs_per_s"]),
            "time_split_s": {"ws_stream": round(clean["stream_s"], 2), "final_rest_catchup_and_flush":
                             round(clean["flush_s"], 2)},
            "msgs_via_ws": clean["ws_msgs"], "msgs_via_rest_catchup": clean["msgs"] - clean["ws_msgs"],
            "ratio_to_baseline": round(clean["msgs_per_s"] / base["msgs_per_s"], 3) if base["msgs_per_s"] else None,
            "p50_ms": latency.get("p50_ms"), "p99_ms": latency.get("p99_ms"),
            "latency_rate_msgs_per_s": 10_000, "latency_samples": latency.get("latency_samples"),
            "lost": faulty["lost"], "duplicated": faulty["duplicated"], "faults_injected": faulty["faults_injected"],
            "faults": faulty["faults"], "candles_equal_under_faults": faulty["candles_equal"],
            "msgs": {"baseline": base["msgs"], "clean": clean["msgs"], "faulty": faulty["msgs"],
                     "latency": latency["msgs"]},
        }

    return asyncio.run(main())

