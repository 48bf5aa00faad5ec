"""``coinray bench ingest``: streaming ingestion throughput, latency and exactly-once under faults.

Against the local simulator in its own process (flooding on localhost), measured in one run:

- ``baseline_msgs_per_s``: bare ccxt.pro ``watch_trades`` in a loop, no processing (the baseline);
- ``sim_ceiling_msgs_per_s``: a bare aiohttp WebSocket reading the same flood, no processing (what the
  simulator can send at all: the ceiling of any client on this box);
- ``msgs_per_s``: the same flood through ``StreamRunner`` with its default transport (the code an
  ``ExchangeStream`` actor runs; ``native`` for Coinbase): frame batches -> orjson decode -> venue parser
  -> de-dup/gap check -> 1m candles -> Redis publish -> chdb insert; ``ccxt_transport_msgs_per_s`` is
  the same with ``transport="ccxt"`` (ccxt.pro ``watch_trades``);
- ``time_split_s``: where the runner's time goes (decode + core, emit, store inserts, Redis round trips);
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
from typing import Any, Literal, cast

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


async def _drained(value: Any, quiet_s: float = 0.3, cpu_at_change: list[float] | None = None) -> float:
    """Wait until ``value()`` stops changing for ``quiet_s``; return the time of its last change.

    ``cpu_at_change`` (optional) receives this thread's CPU time at the last change.
    """
    last, changed = value(), time.perf_counter()
    cpu = [time.thread_time()]
    while time.perf_counter() - changed < quiet_s:
        await asyncio.sleep(0.01)
        now = value()
        if now != last:
            last, changed = now, time.perf_counter()
            cpu[0] = time.thread_time()
    if cpu_at_change is not None:
        cpu_at_change[:] = cpu
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


async def _raw_ceiling(laps: int, symbols: list[str]) -> dict[str, Any]:
    """A bare aiohttp WebSocket: subscribe like the native transport, count frames, nothing else."""
    import aiohttp

    from actors.exchanges import Channel, coinbase

    sim = _SimProcess(_sim_cfg(laps))
    count = 0
    first: float | None = None
    try:
        spec = coinbase.ws_connections(symbols, [Channel.TRADES], sim.rest.replace("http", "ws"))[0]
        async with aiohttp.ClientSession() as session, session.ws_connect(spec.url) as ws:
            for message in spec.messages:
                await ws.send_str(message)

            async def read() -> None:
                nonlocal count, first
                async for _ in ws:
                    first = first or time.perf_counter()
                    count += 1

            reader = asyncio.create_task(read())
            await _wait_done(sim)
            last_change = await _drained(lambda: count)
            reader.cancel()
    finally:
        sim.close()
    elapsed = last_change - (first or last_change)
    return {"msgs": count, "msgs_per_s": count / elapsed if elapsed else 0.0}


async def _ours(settings: CoinraySettings, laps: int, symbols: list[str], *, faults: Any = None,
                rate_per_s: float | None = None, live_ts: bool = False,
                transport: Literal["auto", "native", "ccxt"] = "auto") -> dict[str, Any]:
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
                       ws_url=sim.rest.replace("http", "ws"), max_retries=None, stale_after_s=3.0,
                       transport=transport)
    runner = StreamRunner(cfg, sink, sleep=no_sleep)
    try:
        await runner.start()
        while runner.core.msgs_total == 0:
            await asyncio.sleep(0.001)
        t_first = time.perf_counter()
        cpu_first = time.thread_time()  # the event-loop thread: socket reads, decode, core, Redis client
        stats = await _wait_done(sim)
        cpu_last: list[float] = []
        last_change = await _drained(lambda: runner.core.msgs_total, cpu_at_change=cpu_last)
        stream_cpu_s = cpu_last[0] - cpu_first
        ws_msgs = runner.core.msgs_total
        flush_started = time.perf_counter()
        await runner.flush()  # REST catch-up of trades ccxt still holds, then close every candle
        elapsed = (last_change - t_first) + (time.perf_counter() - flush_started)
        stream_s, flush_s = last_change - t_first, time.perf_counter() - flush_started
        msgs = runner.core.msgs_total
        await runner.stop()
        # redis-py types responses as a union; this client does not decode, so entries are bytes
        entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", await redis.xrange(candle_stream(EXCHANGE)))
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
                           "faults_injected": stats["faults_total"], "faults": stats["faults"],
                           "transport": runner.transport, "timing": dict(runner.timing),
                           "store_s": sink.store_s, "redis_s": sink.redis_s, "stream_cpu_s": stream_cpu_s}
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
        ceiling = await _raw_ceiling(laps, symbols)
        clean = await _ours(settings, laps, symbols)
        via_ccxt = await _ours(settings, max(laps // 2, 100), symbols, transport="ccxt")
        faulty = await _ours(settings, max(laps // 2, 100), symbols, faults=faults)
        latency = await _ours(settings, 300 if quick else 1000, symbols, rate_per_s=10_000, live_ts=True)
        timing = clean["timing"]
        return {
            "bench": "ingest", "baseline": BASELINE, "exchange": EXCHANGE, "symbols": len(symbols),
            "host": "StreamRunner in-process (the code the ExchangeStream actor runs); simulator in a subprocess",
            "transport": clean["transport"],
            "msgs_per_s": round(clean["msgs_per_s"]), "baseline_msgs_per_s": round(base["msgs_per_s"]),
            "ratio_to_baseline": round(clean["msgs_per_s"] / base["msgs_per_s"], 3) if base["msgs_per_s"] else None,
            "sim_ceiling_msgs_per_s": round(ceiling["msgs_per_s"]),
            "ccxt_transport_msgs_per_s": round(via_ccxt["msgs_per_s"]),
            "ws_phase_msgs_per_s": round(clean["ws_msgs_per_s"]),
            "time_split_s": {
                "ws_stream": round(clean["stream_s"], 3),
                "final_rest_catchup_flush_and_store_backlog": round(clean["flush_s"], 3),
                "runner_decode_and_core": round(timing["core_s"], 3),
                "runner_emit": round(timing["emit_s"], 3),
                "store_insert_off_loop": round(clean["store_s"], 3),
                "redis_round_trips": round(clean["redis_s"], 3),
            },
            "runner_busy_fraction": round((timing["core_s"] + timing["emit_s"]) / clean["stream_s"], 3)
            if clean["stream_s"] else None,
            # CPU of the event-loop thread during the WebSocket phase / its wall time: below 1.0 the loop waited
            # for frames, i.e. the simulator's send rate (not the runner) was the limit
            "loop_thread_cpu_fraction": round(clean["stream_cpu_s"] / clean["stream_s"], 3) if clean["stream_s"]
            else None,
            "us_per_msg_decode_and_core": round(timing["core_s"] / clean["ws_msgs"] * 1e6, 2)
            if clean["ws_msgs"] else None,
            "mean_batch_frames": round(timing["frames"] / timing["batches"], 1) if timing["batches"] else None,
            "msgs_via_ws": clean["ws_msgs"], "msgs_via_rest_catchup": clean["msgs"] - clean["ws_msgs"],
            "p50_ms": latency.get("p50_ms"), "p99_ms": latency.get("p99_ms"),
            "latency_rate_msgs_per_s": 10_000, "latency_samples": latency.get("latency_samples"),
            "lost": faulty["lost"], "duplicated": faulty["duplicated"], "faults_injected": faulty["faults_injected"],
            "faults": faulty["faults"], "candles_equal_under_faults": faulty["candles_equal"],
            "ccxt_transport_lost": via_ccxt["lost"], "ccxt_transport_duplicated": via_ccxt["duplicated"],
            "msgs": {"baseline": base["msgs"], "sim_ceiling": ceiling["msgs"], "clean": clean["msgs"],
                     "ccxt_transport": via_ccxt["msgs"], "faulty": faulty["msgs"], "latency": latency["msgs"]},
        }

    return asyncio.run(main())

