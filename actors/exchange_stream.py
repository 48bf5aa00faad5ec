"""``ExchangeStream``: the per-exchange Ray actor, a thin shell over :class:`StreamRunner`.

The pieces live in ``actors/exchange_stream_*.py`` and are re-exported here: ``StreamRunner``
(``_runner``, with the ``_native``/``_ccxt`` transports), ``BusStoreSink`` and ``load_checkpoints``
(``_sink``), ``make_client``/``check_symbols``/``retry_after_from`` (``_client``) and ``StreamMetrics``
(``_metrics``). All decisions about trades, candles and gaps are made by
:class:`actors.exchange_stream_core.ExchangeStreamCore`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pyarrow as pa
import ray

from actors.exchange_stream_client import check_symbols, make_client, retry_after_from
from actors.exchange_stream_config import StreamConfig, SystemClock
from actors.exchange_stream_metrics import StreamMetrics
from actors.exchange_stream_runner import StreamRunner
from actors.exchange_stream_sink import STATE_KEY, TICKER_KEY, AsyncInsert, BusStoreSink, load_checkpoints

__all__ = ["STATE_KEY", "TICKER_KEY", "AsyncInsert", "BusStoreSink", "ExchangeStream", "StreamMetrics",
           "StreamRunner", "SystemClock", "check_symbols", "load_checkpoints", "make_client", "retry_after_from"]


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
