"""Live data for the browser tests from the real path: exchange simulator -> ingestion stream -> store + Redis.

:func:`replay_recorded` starts the local exchange simulator (``cluster.sim``) on the bundled recorded
trades of one venue, runs the ingestion stream (``actors.exchange_stream.StreamRunner`` with its
``BusStoreSink``) against it in-process, and writes into the dashboard's own store and Redis bus:
closed candles land in ``candles`` and on ``coinray:candles:<exchange>`` exactly as ``coinray ingest
stream`` writes them. :func:`expected_candles` builds the 1m candles of the same recorded trades
independently (a polars group-by, not coinray's candle builder), for the assertions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import polars as pl
import pyarrow as pa

MINUTE_MS = 60_000


def recorded_trades(exchange: str, symbol: str) -> pl.DataFrame:
    """The simulator's bundled recorded trades of ``symbol`` on ``exchange`` (symbol, trade_id, ts, price, amount,
    side), in trade order."""
    from cluster.sim.dataset import load_recorded_trades

    frame = pl.DataFrame([t._asdict() for t in load_recorded_trades(exchange)])
    return frame.filter(pl.col("symbol") == symbol).sort("ts", "trade_id")


def expected_candles(trades: pl.DataFrame) -> pl.DataFrame:
    """1m OHLCV candles of one symbol's trades: ts (minute start, UTC ms), open, high, low, close, volume, trades.

    Requires columns: ts, trade_id, price, amount.
    """
    return (trades.sort("ts", "trade_id")
            .group_by((pl.col("ts") // MINUTE_MS * MINUTE_MS).alias("minute"), maintain_order=True)
            .agg(open=pl.col("price").first(), high=pl.col("price").max(), low=pl.col("price").min(),
                 close=pl.col("price").last(), volume=pl.col("amount").sum(), trades=pl.len())
            .rename({"minute": "ts"}).sort("ts"))


async def replay_recorded(*, exchange: str, symbols: tuple[str, ...], source: Any, redis_url: str,
                          timeout_s: float = 120.0) -> None:
    """Replay ``exchange``'s recorded trades through the simulator and the ingestion stream into ``source`` and
    the bus at ``redis_url``; return once every trade is replayed and every candle is closed, stored and published.

    Parameters
    ----------
    exchange:
        ``binance`` or ``coinbase`` (the simulator's venue format and its bundled recording).
    symbols:
        Symbols the stream subscribes to (ccxt unified form).
    source:
        The dashboard's ``serve.ui.OpsSource``: candles and gaps are inserted through it, so that the
        store is used by one thread at a time.
    redis_url:
        The bus the dashboard's live hub reads.
    timeout_s:
        Longest wait for the simulator to finish its replay, s.
    """
    import redis.asyncio as aioredis

    from actors.exchange_stream import BusStoreSink, StreamRunner
    from actors.exchange_stream_core import StreamConfig
    from cluster.schemas import CANDLES, conform
    from cluster.sim import ExchangeSimulator, SimConfig

    async def insert_candles(table: pa.Table) -> int:
        return int(await asyncio.to_thread(source.insert, "candles", conform(table, CANDLES)))

    async def insert_gaps(table: pa.Table) -> int:
        return int(await asyncio.to_thread(source.insert, "data_gaps", table))

    sim = ExchangeSimulator(SimConfig(exchange=exchange, speed=0))  # type: ignore[arg-type]
    await sim.start()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        config = StreamConfig(exchange=exchange, symbols=symbols, rest_url=sim.rest_url, ws_url=sim.ws_url)
        runner = StreamRunner(config, BusStoreSink(exchange, redis, insert_candles, insert_gaps))
        try:
            await runner.start()
            await asyncio.wait_for(sim.finished.wait(), timeout_s)
            await asyncio.wait_for(_streaming(runner, symbols), timeout_s)
            await runner.flush()
        finally:
            await runner.stop()
    finally:
        await redis.aclose()
        await sim.stop()


async def _streaming(runner: Any, symbols: tuple[str, ...]) -> None:
    """Return once the stream has taken in a trade of every symbol over the WebSocket (polls the public
    ``StreamRunner.snapshot()``). The simulator finishes when it has *sent* every trade; from a trade on,
    :meth:`StreamRunner.flush` catches each symbol up from REST, so nothing the socket still holds is lost."""
    while True:
        state = runner.snapshot()["symbols"]
        if all(state[s]["last_id"] is not None for s in symbols):
            return
        await asyncio.sleep(0.05)
