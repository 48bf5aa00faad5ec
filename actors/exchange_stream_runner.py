"""``StreamRunner``: the asyncio driver of one exchange's streams (transport, REST repairs, batched writes).

It owns the I/O: the stream transport (``native``: :class:`actors.exchange_stream_native.NativeTransport`;
``ccxt``: :class:`actors.exchange_stream_ccxt.CcxtTransport`), paginated REST repairs and the sink. All
decisions about trades, candles and gaps are made by :class:`actors.exchange_stream_core.ExchangeStreamCore`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from actors.backoff import call_with_retries
from actors.exchange_stream_ccxt import CcxtTransport
from actors.exchange_stream_client import check_symbols, make_client, retry_after_from
from actors.exchange_stream_config import SystemClock
from actors.exchange_stream_core import (
    Checkpoint,
    ExchangeStreamCore,
    GapRecord,
    IngestResult,
    StreamConfig,
    resolve_transport,
)
from actors.exchange_stream_native import NativeTransport
from actors.exchange_stream_opaque import OpaqueIdStreamCore
from actors.exchange_stream_sink import BusStoreSink
from actors.exchanges import OpaqueTrade, Trade, venue_for
from cluster.errors import ConfigError

logger = logging.getLogger(__name__)

#: Most REST pages one time-paged repair fetches (generic venue).
MAX_REPAIR_PAGES = 1_000
#: How long :meth:`StreamRunner.stop` waits for cancelled stream tasks before closing the ccxt client under them, s.
STOP_GRACE_S = 1.0


class StreamRunner(NativeTransport, CcxtTransport):
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
        self.venue = venue_for(cfg.exchange, generic=cfg.venue == "generic")
        self.transport = resolve_transport(cfg, self.venue)
        self.clock = clock or SystemClock()
        core_type = OpaqueIdStreamCore if getattr(self.venue, "OPAQUE_TRADE_IDS", False) else ExchangeStreamCore
        self.core = core_type(cfg, self.venue, self.clock, checkpoints)
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
        self._ccxt_drops = 0
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
        if self.transport == "ccxt" and not (getattr(self.client, "has", None) or {}).get("watchTrades"):
            raise ConfigError(f"{self.cfg.exchange}: ccxt.pro offers no watch_trades for this exchange")
        if self.transport == "native":
            import aiohttp

            self._session = aiohttp.ClientSession()
            specs = self.venue.ws_connections(self.cfg.symbols, self.cfg.channels, self.cfg.ws_url)
            self._tasks = [asyncio.create_task(self._native(spec), name=f"native:{spec.url}:{n}")
                           for n, spec in enumerate(specs)]
        else:
            if not self.core.ID_GAPS_DETECTED:
                self._count_ccxt_drops()
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
        client_closed = False
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            if pending:
                # a ccxt.pro watch future (``Future.race``) can ignore cancellation until its connection
                # closes: closing the client rejects it, and the cancelled watch loops finish
                await self.client.close()
                client_closed = True
        # a task that failed already logged its error at its boundary (and set ``failed``)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._writes:
            await asyncio.gather(*self._writes)
        await self.flush_pending(force=True)
        await self.sink.drain()
        if self._session is not None:
            await self._session.close()
        if not client_closed:
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

    async def _housekeeping(self) -> None:
        """Flush buffered closed candles on time and refresh metrics, even when the stream goes quiet."""
        while True:
            await asyncio.sleep(self.cfg.flush_interval_s)
            await self.flush_pending()
            if self.on_written is not None:
                self.on_written(self.snapshot())

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
        if isinstance(self.core, OpaqueIdStreamCore):
            await self._repair_by_time(self.core, symbol)
            return
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

    async def _repair_by_time(self, core: OpaqueIdStreamCore, symbol: str) -> None:
        """Page ``fetch_trades(symbol, since)`` forward by time and merge what was not seen (opaque trade ids)."""
        start = core.repair_since(symbol)
        if start is None:
            core.state[symbol].needs_repair = False
            return
        cursor, anchored = start
        got: list[OpaqueTrade] = []
        limit = self.cfg.rest_page_limit
        complete = True
        for page_no in range(MAX_REPAIR_PAGES):
            since = cursor
            page = await self._rest(lambda since=since: self.venue.fetch_trades_since(self.client, symbol, since,  # type: ignore[misc]
                                                                                      limit=limit),
                                    f"repair {symbol}")
            page = [t for t in page if t.ts >= since]
            if page_no == 0 and anchored and len(page) >= limit and page[0].ts > since:
                complete = False  # the exchange ignored ``since``: its newest full page starts after it
            got.extend(page)
            if len(page) < limit:
                break
            cursor = page[-1].ts
            if cursor <= since:  # a full page of one millisecond: step over it (may skip some of that ms)
                logger.warning("%s %s: more than %d trades at %d; stepping over", self.cfg.exchange, symbol,
                               limit, since)
                complete = False
                cursor = since + 1
        else:
            complete = False
        async with self._lock:
            result = core.apply_repair(symbol, got, self.clock.now_ms(), complete=complete)
        for gap in result.gaps:
            logger.warning("%s %s: gap %d..%d %s (%d trades from REST by time)", self.cfg.exchange, symbol,
                           gap.from_ts, gap.to_ts, gap.method, len(got))
        await self._emit(result)

    async def _rest(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        import ccxt

        budget = self.cfg.retry_budget()
        return await call_with_retries(call, budget, retryable=(ccxt.NetworkError,), sleep=self.sleep,
                                       retry_after_s=retry_after_from(self.client),
                                       what=f"{self.cfg.exchange} {what}")

    def snapshot(self) -> dict[str, Any]:
        """Core counters plus sink counters."""
        snap = self.core.snapshot()
        snap.update(published_final=self.sink.published_final, published_live=self.sink.published_live,
                    published_tickers=self.sink.published_tickers, transport=self.transport,
                    failed=repr(self.failed) if self.failed else None)
        return snap
