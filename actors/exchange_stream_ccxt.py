"""The ccxt.pro transport of :class:`actors.exchange_stream.StreamRunner`.

``watch_trades`` per symbol (plus ``watch_ohlcv``/``watch_ticker`` side channels where the exchange has
them), with a staleness watchdog that drops silent connections and a REST repair after every reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from actors.exchange_stream_config import Clock, StreamConfig
from actors.exchange_stream_core import ExchangeStreamCore
from actors.exchange_stream_sink import BusStoreSink
from actors.exchanges import Channel, Trade
from actors.exchanges._types import closed_klines_from_ccxt, ticker_from_ccxt
from cluster.errors import ParseError

if TYPE_CHECKING:
    from actors.exchange_stream_state import IngestResult

logger = logging.getLogger(__name__)


class CcxtTransport:
    """Mixin of :class:`StreamRunner`: the ccxt.pro watch loops."""

    cfg: StreamConfig
    core: ExchangeStreamCore
    sink: BusStoreSink
    clock: Clock
    sleep: Callable[[float], Awaitable[None]]
    timing: dict[str, float]
    failed: BaseException | None
    venue: ModuleType | Any
    client: Any
    _lock: asyncio.Lock
    _ccxt_drops: int

    if TYPE_CHECKING:
        async def _emit(self, result: IngestResult) -> None: ...

        async def _repair(self, symbol: str) -> None: ...

    async def _watch(self, symbol: str) -> None:
        budget = self.cfg.retry_budget()
        import aiohttp
        import ccxt

        drops_seen = self._ccxt_drops
        try:
            if self.core.wants_repair(symbol) and self.core.ID_GAPS_DETECTED:
                await self._repair(symbol)
            while True:
                call_drops = self._ccxt_drops
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
                    if self.core.ID_GAPS_DETECTED:
                        await self._repair(symbol)
                    continue
                budget.success()
                if not self.core.ID_GAPS_DETECTED and self._ccxt_drops != drops_seen \
                        and not self.core.state[symbol].needs_repair:
                    self.core.on_disconnect(symbol, "a ccxt.pro connection dropped since the previous batch")
                await self._ingest(symbol, raw)
                if self.core.wants_repair(symbol):
                    if not self.core.ID_GAPS_DETECTED and call_drops != self._ccxt_drops:
                        continue  # a drop during this call: repair once a batch of the new subscription arrived
                    drops_seen = call_drops
                    await self._repair(symbol)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # boundary of the stream task: record, log, re-raise
            self.failed = exc
            logger.exception("%s %s: stream task failed", self.cfg.exchange, symbol)
            raise

    def _count_ccxt_drops(self) -> None:
        """Count every ccxt.pro connection close/error (``client.on_close``/``on_error`` hooks).

        ccxt.pro rejects only the watch futures pending when a connection drops; a watch loop that was
        busy at that moment just dials a new connection on its next call and sees no error. Without id
        jumps to reveal lost trades, this counter is how such a symbol learns it needs a repair.
        """
        for name in ("on_close", "on_error"):
            found = getattr(self.client, name, None)
            if found is None:
                continue
            original: Callable[..., Any] = found

            def hooked(client: Any, *args: Any, _original: Callable[..., Any] = original) -> Any:
                self._ccxt_drops += 1
                return _original(client, *args)

            setattr(self.client, name, hooked)

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

        budget = self.cfg.retry_budget(forever=True)
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

    async def _drop_connections(self) -> None:
        """Close the ccxt WS connections so the next watch reconnects (a silent socket is not trusted)."""
        clients = getattr(self.client, "clients", {})
        for url, ws_client in list(clients.items()):
            with contextlib.suppress(Exception):
                await ws_client.close()
            # ccxt keeps a client closed by the caller (with its subscriptions) in ``clients``; drop it so
            # the next watch dials a fresh connection and subscribes again
            clients.pop(url, None)
