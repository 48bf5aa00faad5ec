"""``BusStoreSink``: where a stream's output goes (store inserts, Redis candle streams, tickers, checkpoints).

Also :func:`load_checkpoints`, the read side of the persisted per-symbol checkpoints.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pyarrow as pa

from actors.exchange_stream_config import SystemClock
from actors.exchange_stream_state import Checkpoint, GapRecord, candles_table, gaps_table
from actors.exchanges import Ticker
from cluster.bus import candle_stream

STATE_KEY = "coinray:stream_state:{exchange}"
#: Redis hash of the newest ticker per symbol: field = symbol, value = JSON {ts, bid, ask, last}.
TICKER_KEY = "coinray:tickers:{exchange}"
AsyncInsert = Callable[[pa.Table], Awaitable[Any]]


class BusStoreSink:
    """Writes closed candles and gaps to the store, then publishes them with the checkpoint to Redis.

    Store first, then one Redis MULTI (XADD final candles + HSET checkpoints): a crash in between
    re-closes the same candles after restart (the store de-duplicates), and Redis never sees a
    candle twice. In-progress candles and tickers are published in the background, coalesced
    into one pipelined round trip per drain.
    """

    def __init__(self, exchange: str, redis: Any, insert_candles: AsyncInsert, insert_gaps: AsyncInsert,
                 *, maxlen: int = 100_000, clock: SystemClock | None = None) -> None:
        self.exchange = exchange
        self.redis = redis
        self.insert_candles = insert_candles
        self.insert_gaps = insert_gaps
        self.maxlen = maxlen
        self.clock = clock or SystemClock()
        self.consumers: list[Callable[[pa.Table], Any]] = []
        self.published_final = 0
        self.published_live = 0
        self.published_tickers = 0
        self.live_latency_ms: list[int] = []
        self.record_latency = False
        self.store_s = 0.0
        self.redis_s = 0.0
        self._live: list[tuple[list[dict[str, Any]], list[int]]] = []
        self._tickers: dict[str, Ticker] = {}
        self._drainer: asyncio.Future[None] | None = None
        self._stream_key = candle_stream(exchange)
        self._ticker_key = TICKER_KEY.format(exchange=exchange)

    async def write(self, closed: list[dict[str, Any]], gaps: list[GapRecord],
                    checkpoints: dict[str, Checkpoint]) -> None:
        """Persist then publish one batch of closed candles and gap rows."""
        now = self.clock.now_ms()
        started = time.perf_counter()
        table = candles_table(closed, now) if closed else None
        if table is not None:
            await self.insert_candles(table)
        if gaps:
            await self.insert_gaps(gaps_table(gaps))
        stored = time.perf_counter()
        pipe = self.redis.pipeline(transaction=True)
        for row in closed:
            pipe.xadd(self._stream_key, _fields(row, final=True), maxlen=self.maxlen, approximate=True)
        for symbol, cp in checkpoints.items():
            pipe.hset(STATE_KEY.format(exchange=self.exchange), symbol,
                      json.dumps({"last_id": cp.last_id, "closed_until": cp.closed_until}))
        await pipe.execute()
        self.store_s += stored - started
        self.redis_s += time.perf_counter() - stored
        self.published_final += len(closed)
        if table is not None:
            for notify in self.consumers:
                notify(table)

    async def write_initial_checkpoints(self, checkpoints: dict[str, Checkpoint]) -> None:
        """Persist where fresh symbols started (``HSETNX``: never overwrites a later checkpoint)."""
        pipe = self.redis.pipeline(transaction=False)
        for symbol, cp in checkpoints.items():
            pipe.hsetnx(STATE_KEY.format(exchange=self.exchange), symbol,
                        json.dumps({"last_id": cp.last_id, "closed_until": cp.closed_until}))
        await pipe.execute()

    async def publish_live(self, rows: list[dict[str, Any]], trade_ts: Sequence[int]) -> None:
        """Queue in-progress candles (``final=0``) for publishing; returns at once.

        A background task XADDs everything queued in one pipelined round trip (only the newest state
        of each candle), so a burst of small batches costs one round trip, and records exchange-ts ->
        publish latency per trade.
        """
        self._live.append((rows, list(trade_ts) if self.record_latency else []))
        self._kick()

    def publish_tickers(self, tickers: dict[str, Ticker]) -> None:
        """Queue the newest tickers for ``HSET coinray:tickers:<exchange>`` (only the last per symbol is sent)."""
        self._tickers.update(tickers)
        self._kick()

    def _kick(self) -> None:
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain_live())

    async def _drain_live(self) -> None:
        key = self._stream_key
        while self._live or self._tickers:
            batch, self._live = self._live, []
            tickers, self._tickers = self._tickers, {}
            started = time.perf_counter()
            # coalesce: of several queued states of one in-progress candle only the newest is worth sending
            latest = {(row["symbol"], row["ts"]): row for rows, _ in batch for row in rows}
            pipe = self.redis.pipeline(transaction=False)
            for row in latest.values():
                pipe.xadd(key, _fields(row, final=False), maxlen=self.maxlen, approximate=True)
            if tickers:
                pipe.hset(self._ticker_key, mapping={s: _ticker_json(t) for s, t in tickers.items()})
            await pipe.execute()
            self.redis_s += time.perf_counter() - started
            now = self.clock.now_ms()
            self.published_tickers += len(tickers)
            self.published_live += len(latest)
            for _, stamps in batch:
                if stamps:
                    self.live_latency_ms.extend([now - ts for ts in stamps])

    async def drain(self) -> None:
        """Wait until every queued live candle and ticker is published."""
        while self._drainer is not None and not self._drainer.done():
            await self._drainer


def _ticker_json(t: Ticker) -> str:
    return json.dumps({"ts": t.ts, "bid": t.bid, "ask": t.ask, "last": t.last})


def _fields(row: dict[str, Any], *, final: bool) -> dict[str, Any]:
    return {"symbol": row["symbol"], "timeframe": row["timeframe"], "ts": row["ts"], "open": row["open"],
            "high": row["high"], "low": row["low"], "close": row["close"], "volume": row["volume"],
            "trades": row["trades"], "exchange": row["exchange"], "final": int(final)}


async def load_checkpoints(redis: Any, exchange: str) -> dict[str, Checkpoint]:
    """The persisted per-symbol checkpoints of ``exchange`` (empty on a first start)."""
    raw = await redis.hgetall(STATE_KEY.format(exchange=exchange))
    out = {}
    for symbol, value in raw.items():
        data = json.loads(value)
        last_id = data.get("last_id")  # null: a venue with opaque trade ids (resumes by time)
        out[symbol.decode() if isinstance(symbol, bytes) else symbol] = Checkpoint(
            None if last_id is None else int(last_id), int(data["closed_until"]))
    return out
