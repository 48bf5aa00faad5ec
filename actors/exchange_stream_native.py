"""The native WebSocket transport of :class:`actors.exchange_stream.StreamRunner`.

One aiohttp connection per venue connection spec: subscribe, pump raw frame batches into the core,
repair in the background after every (re)connect, reconnect with backoff on failure or staleness.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from actors.exchange_stream_config import Clock, StreamConfig
from actors.exchange_stream_core import ExchangeStreamCore
from actors.exchange_stream_sink import BusStoreSink
from actors.exchanges._types import WsConnectionSpec

if TYPE_CHECKING:
    from actors.exchange_stream_state import IngestResult

logger = logging.getLogger(__name__)


class NativeTransport:
    """Mixin of :class:`StreamRunner`: the native transport's connection loops and background repairs."""

    cfg: StreamConfig
    core: ExchangeStreamCore
    sink: BusStoreSink
    clock: Clock
    sleep: Callable[[float], Awaitable[None]]
    timing: dict[str, float]
    failed: BaseException | None
    _session: Any
    _repairs: dict[str, asyncio.Task[None]]
    _repair_again: set[str]

    if TYPE_CHECKING:
        async def _emit(self, result: IngestResult) -> None: ...

        async def _repair(self, symbol: str) -> None: ...

    async def _native(self, spec: WsConnectionSpec) -> None:
        """One venue connection: connect, subscribe, pump frame batches into the core; reconnect on failure."""
        import aiohttp

        from actors.exchanges.ws_client import open_feed

        budget = self.cfg.retry_budget()
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
