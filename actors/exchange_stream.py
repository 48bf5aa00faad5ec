"""``ExchangeStream``: the per-exchange Ray actor (thin shell) and its asyncio driver ``StreamRunner``.

``StreamRunner`` owns the I/O: the stream transport (``native``: its own aiohttp WebSocket per venue
connection feeding raw frames to the core in batches; ``ccxt``: ccxt.pro ``watch_*`` per symbol), reconnect
with backoff and a staleness watchdog, paginated REST repairs, and the sink (store inserts, Redis streams,
tickers, persisted checkpoints). All decisions about trades, candles and gaps are made by
:class:`actors.exchange_stream_core.ExchangeStreamCore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pyarrow as pa
import ray

from actors.backoff import RetryBudget, call_with_retries
from actors.exchange_stream_core import (
    Checkpoint,
    ExchangeStreamCore,
    GapRecord,
    IngestResult,
    StreamConfig,
    candles_table,
    gaps_table,
    resolve_transport,
)
from actors.exchanges import Channel, Ticker, Trade, venue_for
from actors.exchanges._types import WsConnectionSpec, closed_klines_from_ccxt, ticker_from_ccxt
from cluster.bus import candle_stream
from cluster.errors import ConfigError, ParseError

logger = logging.getLogger(__name__)

STATE_KEY = "coinray:stream_state:{exchange}"
#: Redis hash of the newest ticker per symbol: field = symbol, value = JSON {ts, bid, ask, last}.
TICKER_KEY = "coinray:tickers:{exchange}"
AsyncInsert = Callable[[pa.Table], Awaitable[Any]]


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        """UTC epoch ms."""
        return int(time.time() * 1000)


def make_client(cfg: StreamConfig) -> Any:
    """A ccxt.pro client for ``cfg.exchange``, pointed at ``cfg.rest_url``/``ws_url`` when set."""
    import ccxt.pro as ccxtpro

    venue = venue_for(cfg.exchange)
    params: dict[str, Any] = {"options": dict(venue.CCXT_OPTIONS), "enableRateLimit": True}
    if cfg.api_key is not None:
        params["apiKey"] = cfg.api_key.get_secret_value()
    if cfg.api_secret is not None:
        params["secret"] = cfg.api_secret.get_secret_value()
    client = getattr(ccxtpro, venue.CCXT_ID)(params)
    if cfg.rest_url or cfg.ws_url:
        client.urls["api"].update(venue.ccxt_urls(cfg.rest_url or "", cfg.ws_url or ""))
        client.rateLimit = 0
        client.enableRateLimit = False  # a local simulator: the token bucket built at init would still pace calls
    return client


def check_symbols(markets: dict[str, Any], symbols: Sequence[str], exchange: str) -> None:
    """Raise ``ConfigError`` for an unknown symbol, listing close matches from the exchange's markets."""
    for symbol in symbols:
        if symbol not in markets:
            close = difflib.get_close_matches(symbol, list(markets), n=5, cutoff=0.5)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise ConfigError(f"{exchange} has no market {symbol!r}{hint}")


def retry_after_from(client: Any) -> Callable[[BaseException], float | None]:
    """Read ``Retry-After`` from the client's last response headers (seconds)."""

    def hint(exc: BaseException) -> float | None:
        headers = getattr(client, "last_response_headers", None) or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    return hint


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
        out[symbol.decode() if isinstance(symbol, bytes) else symbol] = Checkpoint(int(data["last_id"]),
                                                                                  int(data["closed_until"]))
    return out


class StreamRunner:
    """Runs one exchange's streams: the transport, REST repairs and batched flushes.

    Parameters
    ----------
    cfg:
        Stream settings (``cfg.transport`` picks native WebSockets or ccxt.pro).
    sink:
        Where closed candles, gaps, live candles and tickers go.
    checkpoints:
        Persisted state to resume from (crash-only restart).
    client:
        A ccxt.pro client (REST repairs and markets always use it; streams only with the ccxt
        transport); None = :func:`make_client`.
    sleep:
        Backoff sleep (tests pass a no-op).
    """

    def __init__(self, cfg: StreamConfig, sink: BusStoreSink, *, checkpoints: dict[str, Checkpoint] | None = None,
                 client: Any = None, clock: SystemClock | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.cfg = cfg
        self.venue = venue_for(cfg.exchange)
        self.transport = resolve_transport(cfg, self.venue)
        self.clock = clock or SystemClock()
        self.core = ExchangeStreamCore(cfg, self.venue, self.clock, checkpoints)
        self.sink = sink
        self.client = client if client is not None else make_client(cfg)
        self.sleep = sleep
        self._closed: list[dict[str, Any]] = []
        self._gaps: list[GapRecord] = []
        self._last_flush = time.monotonic()
        self._lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._writes: set[asyncio.Future[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._repairs: dict[str, asyncio.Task[None]] = {}
        self._repair_again: set[str] = set()
        self._session: Any = None
        self.ccxt_parse_errors = 0
        self.failed: BaseException | None = None
        self.started = asyncio.Event()
        #: called with :meth:`snapshot` after every store write and every ``flush_interval_s`` (metrics)
        self.on_written: Callable[[dict[str, Any]], None] | None = None
        #: where the runner's time goes (seconds of CPU on the loop, per stage) and batch counts
        self.timing: dict[str, float] = {"core_s": 0.0, "emit_s": 0.0, "batches": 0.0, "frames": 0.0}

    async def start(self) -> None:
        """Load markets, validate symbols and start the stream tasks of the configured transport."""
        await self._rest(self.client.load_markets, "load_markets")
        check_symbols(self.client.markets, self.cfg.symbols, self.cfg.exchange)
        if self.transport == "native":
            import aiohttp

            self._session = aiohttp.ClientSession()
            specs = self.venue.ws_connections(self.cfg.symbols, self.cfg.channels, self.cfg.ws_url)
            self._tasks = [asyncio.create_task(self._native(spec), name=f"native:{spec.url}:{n}")
                           for n, spec in enumerate(specs)]
        else:
            self._tasks = [asyncio.create_task(self._watch(symbol), name=f"watch:{symbol}")
                           for symbol in self.cfg.symbols]
            self._tasks += self._ccxt_side_channels()
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        logger.info("%s: streaming %d symbol(s) over the %s transport, channels %s", self.cfg.exchange,
                    len(self.cfg.symbols), self.transport, ",".join(sorted(self.cfg.channels)))
        self.started.set()

    async def stop(self) -> None:
        """Cancel the stream tasks, flush what is final and close the clients."""
        tasks = [*self._tasks, *self._repairs.values()]
        for task in tasks:
            task.cancel()
        # a task that failed already logged its error at its boundary (and set ``failed``)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._writes:
            await asyncio.gather(*self._writes)
        await self.flush_pending(force=True)
        await self.sink.drain()
        if self._session is not None:
            await self._session.close()
        await self.client.close()

    async def flush(self) -> int:
        """Catch every symbol up from REST, close every open candle and write everything; return candles closed.

        Used at shutdown and at the end of a replay: trades the WebSocket never delivered (an outage
        just before the end) are fetched first, so nothing is lost.
        """
        running = [task for task in self._repairs.values() if not task.done()]
        if running:  # background repairs finish first: flush's own repairs then see a settled state
            await asyncio.gather(*running, return_exceptions=True)
        for attempt in range(5):
            due = [s for s, st in self.core.state.items() if attempt == 0 or st.missing or st.needs_repair]
            await asyncio.gather(*(self._repair(symbol) for symbol in due))  # symbols are independent
            if not any(st.missing or st.needs_repair for st in self.core.state.values()):
                break
        async with self._lock:
            closed = self.core.flush()
            self._closed.extend(closed)
        await self.flush_pending(force=True)
        if self._writes:
            await asyncio.gather(*self._writes)
        await self.sink.drain()
        return len(closed)

    # -- native transport ---------------------------------------------------------------------------
    async def _native(self, spec: WsConnectionSpec) -> None:
        """One venue connection: connect, subscribe, pump frame batches into the core; reconnect on failure."""
        import aiohttp

        from actors.exchanges.ws_client import open_feed

        budget = RetryBudget(self.cfg.backoff_initial_s, 2.0, self.cfg.backoff_max_s, self.cfg.backoff_jitter,
                             self.cfg.max_retries)
        try:
            while True:
                try:
                    async with open_feed(self._session, spec, max_batch=self.cfg.max_batch_frames) as feed:
                        for symbol in spec.symbols:
                            self.core.state[symbol].connected = True
                            self._repair_soon(symbol, again=True)
                        while True:
                            batch = await feed.next_batch(self.cfg.stale_after_s)
                            budget.success()
                            await self._on_batch(batch)
                except (TimeoutError, aiohttp.ClientError, ConnectionError, OSError) as exc:
                    reason = "stale" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
                    self.core.on_connection_lost(spec.symbols, reason[:200])
                    await self.sleep(budget.next_delay(reason))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # boundary of the stream task: record, log, re-raise
            self.failed = exc
            logger.exception("%s: native stream task (%s) failed", self.cfg.exchange, spec.url)
            raise

    async def _on_batch(self, batch: Sequence[str | bytes]) -> None:
        t0 = time.perf_counter()
        result = self.core.on_frames(batch, self.clock.now_ms())
        t1 = time.perf_counter()
        await self._emit(result)
        tickers = self.core.take_tickers()
        if tickers:
            self.sink.publish_tickers(tickers)
        for symbol in result.touched:
            if self.core.wants_repair(symbol):
                self._repair_soon(symbol)
        timing = self.timing
        timing["core_s"] += t1 - t0
        timing["emit_s"] += time.perf_counter() - t1
        timing["batches"] += 1
        timing["frames"] += len(batch)
        if self.failed is not None:
            raise RuntimeError(f"{self.cfg.exchange}: a background task failed") from self.failed

    def _repair_soon(self, symbol: str, *, again: bool = False) -> None:
        """Run a REST repair of ``symbol`` in the background (the pump keeps reading meanwhile)."""
        running = self._repairs.get(symbol)
        if running is not None and not running.done():
            if again:  # a reconnect while repairing: repair once more afterwards
                self._repair_again.add(symbol)
            return
        if not self.core.wants_repair(symbol):
            return
        self._repairs[symbol] = asyncio.create_task(self._repair_task(symbol), name=f"repair:{symbol}")

    async def _repair_task(self, symbol: str) -> None:
        try:
            await self._repair(symbol)
            while symbol in self._repair_again or self.core.wants_repair(symbol):
                self._repair_again.discard(symbol)
                await self._repair(symbol)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # boundary of a repair task: record and log; the pump re-raises it
            self.failed = exc
            logger.exception("%s %s: REST repair failed", self.cfg.exchange, symbol)

    async def _housekeeping(self) -> None:
        """Flush buffered closed candles on time and refresh metrics, even when the stream goes quiet."""
        while True:
            await asyncio.sleep(self.cfg.flush_interval_s)
            await self.flush_pending()
            if self.on_written is not None:
                self.on_written(self.snapshot())

    # -- ccxt.pro transport -------------------------------------------------------------------------
    async def _watch(self, symbol: str) -> None:
        budget = RetryBudget(self.cfg.backoff_initial_s, 2.0, self.cfg.backoff_max_s, self.cfg.backoff_jitter,
                             self.cfg.max_retries)
        import aiohttp
        import ccxt

        try:
            if self.core.wants_repair(symbol):
                await self._repair(symbol)
            while True:
                try:
                    raw = await asyncio.wait_for(
                        self.client.watch_trades(symbol, None, None, dict(self.venue.WATCH_TRADES_PARAMS)),
                        self.cfg.stale_after_s)
                except (TimeoutError, ccxt.NetworkError, aiohttp.ClientError, ConnectionError) as exc:
                    # ccxt sometimes lets aiohttp's own errors through (a send on a closing transport)
                    reason = "stale" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
                    self.core.on_disconnect(symbol, reason[:200])
                    if isinstance(exc, TimeoutError):
                        await self._drop_connections()
                    await self.sleep(budget.next_delay(reason))
                    await self._repair(symbol)
                    continue
                budget.success()
                await self._ingest(symbol, raw)
                if self.core.wants_repair(symbol):
                    await self._repair(symbol)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # boundary of the stream task: record, log, re-raise
            self.failed = exc
            logger.exception("%s %s: stream task failed", self.cfg.exchange, symbol)
            raise

    def _ccxt_side_channels(self) -> list[asyncio.Task[None]]:
        has = getattr(self.client, "has", {}) or {}
        tasks = []
        for symbol in self.cfg.symbols:
            if Channel.KLINES in self.cfg.channels and has.get("watchOHLCV"):
                tasks.append(asyncio.create_task(self._watch_side(symbol, "klines"), name=f"klines:{symbol}"))
            if Channel.TICKER in self.cfg.channels and has.get("watchTicker"):
                tasks.append(asyncio.create_task(self._watch_side(symbol, "ticker"), name=f"ticker:{symbol}"))
        return tasks

    async def _watch_side(self, symbol: str, channel: str) -> None:
        """ccxt.pro ``watch_ohlcv``/``watch_ticker`` loop: closed 1m klines to the cross-check, tickers to Redis.

        No watchdog of its own: the trades loop drops silent connections, and side channels are
        not needed for exactly-once candles.
        """
        import aiohttp
        import ccxt

        budget = RetryBudget(self.cfg.backoff_initial_s, 2.0, self.cfg.backoff_max_s, self.cfg.backoff_jitter,
                             None)
        last_row: Sequence[Any] | None = None
        while True:
            try:
                if channel == "klines":
                    rows = await self.client.watch_ohlcv(symbol, "1m")
                    closed, last_row = closed_klines_from_ccxt(symbol, "1m", rows, last_row)
                    for kline in closed:
                        self.core.on_kline(kline)
                else:
                    raw = await self.client.watch_ticker(symbol)
                    self.core.on_ticker(ticker_from_ccxt(symbol, raw, self.clock.now_ms()))
                    self.sink.publish_tickers(self.core.take_tickers())
                budget.success()
            except (ccxt.NetworkError, aiohttp.ClientError, ConnectionError) as exc:
                await self.sleep(budget.next_delay(f"{channel} {symbol}: {type(exc).__name__}"))

    async def _ingest(self, symbol: str, raw: Sequence[dict[str, Any]]) -> None:
        trades: list[Trade] = []
        for item in raw:
            try:
                trades.append(self.venue.trade_from_ccxt(item))
            except ParseError as exc:
                self.core.parse_errors += 1
                if self.core.parse_errors <= 10 or self.core.parse_errors % 100 == 0:
                    logger.warning("%s %s: dropped malformed trade (#%d): %.200s", self.cfg.exchange, symbol,
                                   self.core.parse_errors, exc.excerpt)
        t0 = time.perf_counter()
        async with self._lock:
            result = self.core.ingest(symbol, trades, self.clock.now_ms())
        t1 = time.perf_counter()
        await self._emit(result)
        self.timing["core_s"] += t1 - t0
        self.timing["emit_s"] += time.perf_counter() - t1
        self.timing["batches"] += 1
        self.timing["frames"] += len(raw)

    # -- shared ---------------------------------------------------------------------------------------
    async def _emit(self, result: IngestResult) -> None:
        if result.closed:
            self._closed.extend(result.closed)
        if result.gaps:
            self._gaps.extend(result.gaps)
        if self.cfg.publish_live and result.live:
            await self.sink.publish_live(list(result.live.values()), result.trade_ts)
        initial = self.core.take_initial_checkpoints()
        if initial:
            await self.sink.write_initial_checkpoints(initial)
        if self._closed or self._gaps:
            await self.flush_pending(force=bool(result.gaps), wait=False)

    async def flush_pending(self, *, force: bool = False, wait: bool = True) -> None:
        """Write buffered closed candles and gaps when the batch is full, old enough, or ``force``.

        Writes run in the background (``wait=False`` lets the stream keep reading during a store
        insert), are serialised in order (checkpoints only move forward) and are shielded from
        cancellation: a batch taken from the buffer is always both stored and published.
        """
        due = len(self._closed) >= self.cfg.flush_rows or \
            time.monotonic() - self._last_flush >= self.cfg.flush_interval_s
        if not (self._closed or self._gaps) or not (force or due):
            return
        closed, gaps = self._closed, self._gaps
        self._closed, self._gaps = [], []
        self._last_flush = time.monotonic()
        write = asyncio.ensure_future(self._write(closed, gaps, self.core.checkpoints()))
        self._writes.add(write)
        write.add_done_callback(self._write_done)
        if wait:
            await asyncio.shield(write)

    def _write_done(self, write: asyncio.Future[None]) -> None:
        self._writes.discard(write)
        if not write.cancelled():
            write.exception()  # retrieved here (it was logged and recorded in ``failed``); awaiting callers re-raise

    async def _write(self, closed: list[dict[str, Any]], gaps: list[GapRecord],
                     checkpoints: dict[str, Checkpoint]) -> None:
        try:
            async with self._write_lock:
                await self.sink.write(closed, gaps, checkpoints)
        except Exception as exc:  # boundary of a background write: record and log; stream tasks re-raise it
            self.failed = exc
            logger.exception("%s: writing %d candle(s) and %d gap(s) failed", self.cfg.exchange, len(closed),
                             len(gaps))
            raise
        if self.on_written is not None:
            self.on_written(self.snapshot())

    async def _repair(self, symbol: str) -> None:
        cursor = self.core.repair_cursor(symbol)
        if cursor is None:
            self.core.state[symbol].needs_repair = False
            return
        known_through = self.core.state[symbol].last_id  # published before the REST request starts
        got: list[Trade] = []
        limit = self.cfg.rest_page_limit
        while True:
            after = cursor
            page = await self._rest(lambda cursor=after: self.venue.fetch_trades_after(self.client, symbol, cursor,  # type: ignore[misc]
                                                                                       limit=limit),
                                    f"repair {symbol}")
            page = [t for t in page if t.trade_id > after]
            if not page:
                break
            got.extend(page)
            cursor = page[-1].trade_id
            if len(page) < limit:
                break
        async with self._lock:
            result = self.core.apply_repair(symbol, got, self.clock.now_ms(), known_through=known_through)
        for gap in result.gaps:
            logger.warning("%s %s: gap %d..%d %s (%d trades from REST)", self.cfg.exchange, symbol, gap.from_ts,
                           gap.to_ts, gap.method, len(got))
        await self._emit(result)

    async def _rest(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        import ccxt

        budget = RetryBudget(self.cfg.backoff_initial_s, 2.0, self.cfg.backoff_max_s, self.cfg.backoff_jitter,
                             self.cfg.max_retries)
        return await call_with_retries(call, budget, retryable=(ccxt.NetworkError,), sleep=self.sleep,
                                       retry_after_s=retry_after_from(self.client),
                                       what=f"{self.cfg.exchange} {what}")

    async def _drop_connections(self) -> None:
        """Close the ccxt WS connections so the next watch reconnects (a silent socket is not trusted)."""
        clients = getattr(self.client, "clients", {})
        for url, ws_client in list(clients.items()):
            with contextlib.suppress(Exception):
                await ws_client.close()
            # ccxt keeps a client closed by the caller (with its subscriptions) in ``clients``; drop it so
            # the next watch dials a fresh connection and subscribes again
            clients.pop(url, None)

    def snapshot(self) -> dict[str, Any]:
        """Core counters plus sink counters."""
        snap = self.core.snapshot()
        snap.update(published_final=self.sink.published_final, published_live=self.sink.published_live,
                    published_tickers=self.sink.published_tickers, transport=self.transport,
                    failed=repr(self.failed) if self.failed else None)
        return snap


class StreamMetrics:
    """Prometheus metrics (through Ray's metrics agent) fed from runner snapshots (every write and every
    ``flush_interval_s``).

    Counters are cumulative per actor life; deltas between snapshots are added, so a restarted
    actor keeps counting up.
    """

    def __init__(self, exchange: str) -> None:
        from ray.util import metrics

        tags = ("exchange", "symbol")
        self.exchange = exchange
        self.messages = metrics.Counter("coinray_ingest_messages", "Trades received", tags)
        self.duplicates = metrics.Counter("coinray_ingest_duplicates", "Duplicate trades dropped", tags)
        self.candles = metrics.Counter("coinray_ingest_candles_closed", "1m candles closed", ("exchange",))
        self.reconnects = metrics.Counter("coinray_ingest_reconnects", "Reconnects", ("exchange",))
        self.gaps_detected = metrics.Counter("coinray_ingest_gaps_detected", "Gaps detected", ("exchange",))
        self.gaps_repaired = metrics.Counter("coinray_ingest_gaps_repaired", "Gaps repaired", ("exchange",))
        self.parse_errors = metrics.Counter("coinray_ingest_parse_errors", "Malformed frames", ("exchange",))
        self.kline_mismatches = metrics.Counter("coinray_ingest_kline_mismatches",
                                                "Exchange 1m klines that differ from the trade-built candle",
                                                ("exchange",))
        self.lag = metrics.Gauge("coinray_ingest_lag_ms", "Age of the newest trade at the last snapshot, ms", tags)
        self._last: dict[str, float] = {}

    def update(self, snap: dict[str, Any]) -> None:
        """Add the increments since the previous snapshot."""
        ex = {"exchange": self.exchange}
        for key, counter in (("published_final", self.candles), ("reconnects", self.reconnects),
                             ("gaps_detected", self.gaps_detected), ("gaps_repaired", self.gaps_repaired),
                             ("parse_errors", self.parse_errors), ("kline_mismatches", self.kline_mismatches)):
            self._add(key, float(snap[key]), counter, ex)
        now = time.time() * 1000
        for symbol, st in snap["symbols"].items():
            tags = {"exchange": self.exchange, "symbol": symbol}
            self._add(f"msgs:{symbol}", float(st["msgs"]), self.messages, tags)
            self._add(f"dups:{symbol}", float(st["duplicates"]), self.duplicates, tags)
            if st["last_ts"]:
                self.lag.set(now - st["last_ts"], tags)

    def _add(self, key: str, value: float, counter: Any, tags: dict[str, str]) -> None:
        delta = value - self._last.get(key, 0.0)
        if delta > 0:
            counter.inc(delta, tags)
        self._last[key] = value


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class ExchangeStream:
    """One exchange's streams in a Ray actor. Crash-only: ``__init__`` reloads checkpoints and resumes.

    Parameters
    ----------
    cfg:
        Stream settings.
    redis_url:
        The bus URL (checkpoints and candle streams).
    store:
        Handle of the ``store`` actor (:class:`actors.store_writer.StoreWriter`).
    """

    def __init__(self, cfg: StreamConfig, redis_url: str, store: Any, stream_maxlen: int = 100_000) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="exchange-stream", daemon=True)
        self._thread.start()
        self._runner: StreamRunner = self._call(_build_runner(cfg, redis_url, store, stream_maxlen), 60)
        self._runner.on_written = StreamMetrics(cfg.exchange).update
        self._call(self._runner.start(), 120)

    def _call(self, coro: Awaitable[Any], timeout_s: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)  # type: ignore[arg-type]

    def snapshot(self) -> dict[str, Any]:
        """Counters and per-symbol state."""
        return self._call(_async(self._runner.snapshot), 30)  # type: ignore[no-any-return]

    def flush(self) -> int:
        """Close all open candles and write them (end of a replay or shutdown)."""
        return int(self._call(self._runner.flush(), 120))

    def register_consumer(self, handle: Any, method: str = "on_candles") -> None:
        """Call ``handle.<method>.remote(table)`` with every batch of closed candles."""
        self._runner.sink.consumers.append(lambda table: getattr(handle, method).remote(table))

    def stop(self) -> None:
        """Stop streaming and flush."""
        self._call(self._runner.stop(), 120)


async def _async(fn: Callable[[], Any]) -> Any:
    return fn()


async def _build_runner(cfg: StreamConfig, redis_url: str, store: Any, maxlen: int) -> StreamRunner:
    import redis.asyncio as aioredis

    redis = aioredis.Redis.from_url(redis_url)
    checkpoints = await load_checkpoints(redis, cfg.exchange)

    async def insert_candles(table: pa.Table) -> Any:
        return await asyncio.wrap_future(store.insert_candles.remote(table).future())

    async def insert_gaps(table: pa.Table) -> Any:
        return await asyncio.wrap_future(store.insert_data_gaps.remote(table).future())

    sink = BusStoreSink(cfg.exchange, redis, insert_candles, insert_gaps, maxlen=maxlen)
    return StreamRunner(cfg, sink, checkpoints=checkpoints)


__all__ = ["BusStoreSink", "ExchangeStream", "StreamMetrics", "StreamRunner", "check_symbols",
           "load_checkpoints", "make_client"]
