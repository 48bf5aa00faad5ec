"""REST backfill of OHLCV candles through ccxt: one async job per (symbol, timeframe), run as Ray tasks.

Decisions (resume point, pagination, weight pacing) come from :mod:`actors.backfill_core`; this
module does the I/O and the Ray fan-out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pyarrow as pa
import ray

from actors.backfill_core import (
    BackfillConfig,
    BackfillResult,
    check_timeframes,
    close_matches,
    next_page,
    resume_from,
    weight_pause_s,
)
from actors.backoff import RetryBudget, call_with_retries
from actors.exchanges import venue_for
from cluster.errors import ConfigError
from cluster.schemas import CANDLES, TIMEFRAME_MS, conform

logger = logging.getLogger(__name__)

Insert = Callable[[pa.Table], Awaitable[Any]]


def make_rest_client(cfg: BackfillConfig) -> Any:
    """An async ccxt client for ``cfg.exchange`` (pointed at ``cfg.rest_url`` when set).

    The exchange's ``rateLimit`` is stretched by ``parallelism`` so that all tasks together stay
    within the exchange's request rate.
    """
    import ccxt.async_support as ccxt_async

    venue = venue_for(cfg.exchange)
    if (cfg.api_key is None) != (cfg.api_secret is None):
        raise ConfigError(f"{cfg.exchange}: set both COINRAY api key and secret, or neither (public data needs none)")
    params: dict[str, Any] = {"options": dict(venue.CCXT_OPTIONS), "enableRateLimit": True}
    if cfg.api_key is not None and cfg.api_secret is not None:
        params.update(apiKey=cfg.api_key.get_secret_value(), secret=cfg.api_secret.get_secret_value())
    client = getattr(ccxt_async, venue.CCXT_ID)(params)
    client.rateLimit = client.rateLimit * cfg.parallelism
    if cfg.rest_url:
        client.urls["api"].update(venue.ccxt_urls(cfg.rest_url, ""))
        client.rateLimit = 0
    return client


async def load_markets(client: Any, cfg: BackfillConfig,
                       sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """``client.load_markets()`` with the same transient-error retries as every other request."""
    import ccxt

    from actors.exchange_stream import retry_after_from

    budget = RetryBudget(cfg.backoff_initial_s, 2.0, cfg.backoff_max_s, 0.2, cfg.max_retries)
    await call_with_retries(client.load_markets, budget, retryable=(ccxt.NetworkError,), sleep=sleep,
                            retry_after_s=retry_after_from(client), what=f"{cfg.exchange} load_markets")


def validate_request(client: Any, cfg: BackfillConfig) -> None:
    """Raise ``ConfigError`` for unknown symbols (with close matches) or unsupported timeframes."""
    for symbol in cfg.symbols:
        if symbol not in client.markets:
            near = close_matches(symbol, client.markets)
            hint = f"; close matches: {', '.join(near)}" if near else ""
            raise ConfigError(f"{cfg.exchange} has no market {symbol!r}{hint}")
    check_timeframes(cfg.timeframes, (client.timeframes or {}).keys(), cfg.exchange)


async def backfill_one(cfg: BackfillConfig, client: Any, symbol: str, timeframe: str, last_stored_ts: int | None,
                       insert: Insert, *, now_ms: int, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                       on_page: Callable[[int], None] | None = None) -> BackfillResult:
    """Fetch ``symbol`` at ``timeframe`` from the resume point to ``until``/now, page by page, inserting each page.

    Only transient errors (ccxt ``NetworkError``: timeouts, 429/418, 5xx) are retried, with backoff
    and the server's Retry-After; the still-open newest candle is never stored.
    """
    import ccxt

    from actors.exchange_stream import retry_after_from

    venue = venue_for(cfg.exchange)
    limit = min(cfg.page_limit, venue.OHLCV_PAGE_LIMIT)
    until = min(cfg.until_ms or now_ms, now_ms - now_ms % TIMEFRAME_MS[timeframe])
    since, resumed = resume_from(cfg.since_ms, last_stored_ts, timeframe)
    budget = RetryBudget(cfg.backoff_initial_s, 2.0, cfg.backoff_max_s, 0.2, cfg.max_retries)
    rows = pages = 0
    last_ts: int | None = last_stored_ts
    cursor: int | None = since
    while cursor is not None and cursor < until:
        page_since = cursor
        raw = await call_with_retries(lambda since=page_since: client.fetch_ohlcv(symbol, timeframe, since, limit),  # type: ignore[misc]
                                      budget,
                                      retryable=(ccxt.NetworkError,), sleep=sleep,
                                      retry_after_s=retry_after_from(client), what=f"ohlcv {symbol} {timeframe}")
        kept, cursor = next_page(raw, page_since, timeframe, until, limit)
        pages += 1
        if kept:
            await insert(_table(cfg.exchange, symbol, timeframe, kept, now_ms))
            rows += len(kept)
            last_ts = int(kept[-1][0])
            if on_page is not None:
                on_page(len(kept))
        used = (getattr(client, "last_response_headers", None) or {}).get("X-MBX-USED-WEIGHT-1M")
        pause = weight_pause_s(int(used) if used else None, limit=cfg.weight_limit_per_min,
                               safety=cfg.weight_safety, now_ms=int(time.time() * 1000))
        if pause:
            logger.info("%s: request weight %s of %d used; pausing %.1f s", cfg.exchange, used,
                        cfg.weight_limit_per_min, pause)
            await sleep(pause)
    return BackfillResult(symbol, timeframe, since, rows, pages, budget.total_failures, last_ts, resumed)


def _table(exchange: str, symbol: str, timeframe: str, rows: list[Any], now_ms: int) -> pa.Table:
    cols = list(zip(*rows, strict=False))
    n = len(rows)
    return conform(pa.table({
        "exchange": [exchange] * n, "symbol": [symbol] * n, "timeframe": [timeframe] * n,
        "ts": pa.array([int(x) for x in cols[0]], pa.int64()),
        **{name: pa.array([float(x) for x in cols[i + 1]], pa.float64())
           for i, name in enumerate(("open", "high", "low", "close", "volume"))},
        "trades": pa.nulls(n, pa.uint64()), "source": ["rest"] * n,
        "ingested_at": pa.array([now_ms] * n, pa.timestamp("ms", tz="UTC")),
    }), CANDLES)


@ray.remote(num_cpus=0, max_retries=0)
def backfill_task(cfg: BackfillConfig, symbol: str, timeframe: str, last_stored_ts: int | None,
                  store: Any) -> BackfillResult:
    """Ray task: one (symbol, timeframe) backfill writing through the ``store`` actor."""
    return asyncio.run(_run_one(cfg, symbol, timeframe, last_stored_ts, store))


async def _run_one(cfg: BackfillConfig, symbol: str, timeframe: str, last_stored_ts: int | None,
                   store: Any) -> BackfillResult:
    client = make_rest_client(cfg)
    try:
        await load_markets(client, cfg)

        async def insert(table: pa.Table) -> Any:
            return await asyncio.wrap_future(store.insert_candles.remote(table).future())

        return await backfill_one(cfg, client, symbol, timeframe, last_stored_ts, insert,
                                  now_ms=int(time.time() * 1000))
    finally:
        await client.close()


def last_stored(store: Any, exchange: str, symbol: str, timeframe: str) -> int | None:
    """Open time of the newest stored candle via the ``store`` actor (None when none)."""
    from cluster.store import quote

    table = ray.get(store.query_arrow.remote(
        f"SELECT max(ts) AS ts, count() AS n FROM candles WHERE exchange = {quote(exchange)} "
        f"AND symbol = {quote(symbol)} AND timeframe = {quote(timeframe)}"))
    return int(table.column("ts")[0].as_py()) if table.column("n")[0].as_py() else None


def run_backfill(cfg: BackfillConfig, store: Any,
                 on_done: Callable[[BackfillResult], None] | None = None) -> list[BackfillResult]:
    """Validate the request, then backfill every (symbol, timeframe) as parallel Ray tasks.

    Raises
    ------
    ConfigError
        For an unknown symbol or unsupported timeframe (checked once, before any task starts).
    """
    asyncio.run(_validate(cfg))
    jobs = [(s, tf) for s in cfg.symbols for tf in cfg.timeframes]
    pending: list[Any] = []
    results: list[BackfillResult] = []
    for symbol, tf in jobs:
        if len(pending) >= cfg.parallelism:
            done, pending = ray.wait(pending, num_returns=1)
            results.extend(_collect(done, on_done))
        pending.append(backfill_task.remote(cfg, symbol, tf, last_stored(store, cfg.exchange, symbol, tf), store))
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        results.extend(_collect(done, on_done))
    return results


def _collect(done: list[Any], on_done: Callable[[BackfillResult], None] | None) -> list[BackfillResult]:
    out = [ray.get(ref) for ref in done]
    if on_done is not None:
        for result in out:
            on_done(result)
    return out


async def _validate(cfg: BackfillConfig) -> None:
    client = make_rest_client(cfg)
    try:
        await load_markets(client, cfg)
        validate_request(client, cfg)
    finally:
        await client.close()
