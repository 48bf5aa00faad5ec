"""Native WebSocket transport: dial a venue connection, send its subscribe frames, hand raw frames over in batches.

No parsing and no venue branches happen here: the venue module says where to connect and what to
send (:func:`ws_connections`), and :meth:`actors.exchange_stream_core.ExchangeStreamCore.on_frames`
decodes what arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from actors.exchanges._types import WsConnectionSpec

logger = logging.getLogger(__name__)


class FeedClosed(ConnectionError):
    """The venue (or the network) closed the connection; reconnect with backoff.

    Parameters
    ----------
    url:
        The connection's URL.
    reason:
        Close code or error text.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class FrameFeed:
    """One open venue WebSocket. A reader task queues frames; :meth:`next_batch` returns everything queued.

    Batching is natural: the reader drains whatever the socket delivered in one read before it yields,
    so under load a batch holds many frames and at low rates one frame (no added latency). The queue is
    bounded (``10 * max_batch`` frames): beyond that the reader stops reading, and TCP pushes back on
    the venue instead of memory growing.

    Parameters
    ----------
    ws:
        An open aiohttp WebSocket.
    url:
        Its URL (for errors and logs).
    max_batch:
        Most frames returned by one :meth:`next_batch`.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, url: str, *, max_batch: int = 2_000) -> None:
        self.ws = ws
        self.url = url
        self.max_batch = max_batch
        self.frames_in = 0
        self._queue: list[str | bytes] = []
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._high_water = 10 * max_batch
        self._error: BaseException | None = None
        self._reader = asyncio.create_task(self._read(), name=f"ws-read:{url}")

    async def _read(self) -> None:
        ready, ws = self._ready, self.ws
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        try:
            while True:
                msg = await ws.receive()
                if msg.type is text or msg.type is binary:
                    self._queue.append(msg.data)  # attribute lookup: next_batch swaps the list
                    self.frames_in += 1
                    ready.set()
                    if len(self._queue) >= self._high_water:
                        self._space.clear()
                        await self._space.wait()
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    raise FeedClosed(self.url, f"error: {ws.exception()!r}")
                else:  # CLOSE / CLOSING / CLOSED
                    raise FeedClosed(self.url, f"closed (code {ws.close_code})")
        except asyncio.CancelledError:
            raise
        except (FeedClosed, aiohttp.ClientError, ConnectionError, OSError) as exc:
            self._error = exc
            ready.set()

    async def next_batch(self, timeout_s: float) -> list[str | bytes]:
        """Wait for frames and return up to ``max_batch`` of them, oldest first.

        Raises
        ------
        TimeoutError
            When nothing arrived for ``timeout_s`` (the staleness watchdog: a silent socket is not trusted).
        FeedClosed
            When the connection closed or failed (after the frames it delivered were returned).
        """
        if not self._queue:
            if self._error is not None:
                raise self._error
            self._ready.clear()
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
            if not self._queue and self._error is not None:
                raise self._error
        batch = self._queue
        self._space.set()
        if len(batch) <= self.max_batch:
            self._queue = []
            return batch
        self._queue = batch[self.max_batch:]
        return batch[: self.max_batch]

    async def close(self) -> None:
        """Stop reading and close the socket."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        with contextlib.suppress(aiohttp.ClientError, ConnectionError, OSError):
            await self.ws.close()


@contextlib.asynccontextmanager
async def open_feed(session: aiohttp.ClientSession, spec: WsConnectionSpec, *, connect_timeout_s: float = 10.0,
                    max_batch: int = 2_000) -> AsyncIterator[FrameFeed]:
    """Dial ``spec.url``, send ``spec.messages`` and yield a :class:`FrameFeed`; closes it on exit.

    Raises
    ------
    aiohttp.ClientError, OSError, TimeoutError
        When the connection cannot be opened (the caller backs off and retries).
    """
    timeout: Any = aiohttp.ClientWSTimeout(ws_close=2.0) if hasattr(aiohttp, "ClientWSTimeout") else 2.0
    async with asyncio.timeout(connect_timeout_s):
        ws = await session.ws_connect(spec.url, autoping=True, heartbeat=None, timeout=timeout,
                                      max_msg_size=16 * 1024 * 1024)
        for message in spec.messages:
            await ws.send_str(message)
    logger.info("native ws: connected to %s, subscribed %d symbol(s) in %d frame(s)", spec.url, len(spec.symbols),
                len(spec.messages))
    feed = FrameFeed(ws, spec.url, max_batch=max_batch)
    try:
        yield feed
    finally:
        await feed.close()


__all__ = ["FeedClosed", "FrameFeed", "open_feed"]
