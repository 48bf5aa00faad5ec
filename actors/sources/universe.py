"""The symbol universe of the sentiment mapper: an exchange's markets (ccxt), the store's candles, or the defaults."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from typing import Any

from cluster.errors import ConfigError, TransientError
from cluster.store import StoreOps
from cluster.store import quote as quote_sql
from pipelines.sentiment.symbols import DEFAULT_BASES

logger = logging.getLogger(__name__)


class UniverseSource(enum.StrEnum):
    """Where ``coinray sentiment`` takes its tracked symbols from."""

    AUTO = "auto"          # the store's candle symbols; the default list when the store has none
    STORE = "store"        # the store's candle symbols (error when there are none)
    EXCHANGE = "exchange"  # the exchange's markets (ccxt ``load_markets``)
    DEFAULT = "default"    # the built-in list of major bases


def default_markets(*, quote: str = "USDT") -> list[str]:
    """The built-in universe as ``BASE/QUOTE`` symbols."""
    return [f"{base}/{quote}" for base in DEFAULT_BASES]


def spot_symbols(markets: Iterable[dict[str, Any]], *, quote: str | None = "USDT") -> list[str]:
    """Unified symbols of the active spot markets in a ccxt ``markets`` mapping's values, sorted.

    Parameters
    ----------
    markets:
        ccxt market structures (``symbol``, ``base``, ``quote``, ``spot``, ``active``).
    quote:
        Keep only markets in this quote currency; None keeps every quote.

    >>> spot_symbols([{"symbol": "ETH/USDT", "quote": "USDT", "spot": True, "active": True},
    ...               {"symbol": "ETH/BTC", "quote": "BTC", "spot": True, "active": True},
    ...               {"symbol": "LUNA/USDT", "quote": "USDT", "spot": True, "active": False}])
    ['ETH/USDT']
    """
    return sorted({str(m["symbol"]) for m in markets
                   if m.get("spot", True) and m.get("active") is not False
                   and (quote is None or m.get("quote") == quote)})


def exchange_markets(exchange: str, *, rest_url: str | None = None, quote: str | None = "USDT",
                     timeout_s: float = 20.0) -> list[str]:
    """The exchange's active spot markets through ccxt ``load_markets`` (pointed at ``rest_url`` when set).

    Raises
    ------
    ConfigError
        For an exchange coinray has no venue module for.
    TransientError
        When the exchange cannot be reached (retry later).
    """
    import ccxt

    from actors.exchanges import venue_for

    venue = venue_for(exchange)
    client = getattr(ccxt, venue.CCXT_ID)({"options": dict(venue.CCXT_OPTIONS), "timeout": int(timeout_s * 1000)})
    if rest_url:
        client.urls["api"].update(venue.ccxt_urls(rest_url.rstrip("/"), ""))
    try:
        markets = client.load_markets()
    except ccxt.NetworkError as exc:
        raise TransientError(f"{exchange}: load_markets failed: {exc}") from exc
    symbols = spot_symbols(markets.values(), quote=quote)
    logger.info("sentiment universe: %d %s markets from %s", len(symbols), quote or "all", exchange)
    return symbols


def store_markets(ops: StoreOps, *, exchange: str | None = None) -> list[str]:
    """Distinct symbols of the stored candles (of one exchange when given), sorted."""
    where = f" WHERE exchange = {quote_sql(exchange)}" if exchange else ""
    table = ops.store.query_arrow(f"SELECT DISTINCT symbol FROM {ops.db}.candles{where} ORDER BY symbol")
    return [str(s) for s in table.column("symbol").to_pylist()]


def resolve_universe(source: UniverseSource, *, ops: StoreOps | None, exchange: str = "binance",
                     rest_url: str | None = None, quote: str = "USDT") -> tuple[list[str], str]:
    """The tracked markets and a line saying where they came from.

    Raises
    ------
    ConfigError
        When ``store`` is asked for and the store has no candles (or no store is given).
    """
    if source is UniverseSource.EXCHANGE:
        return exchange_markets(exchange, rest_url=rest_url, quote=quote), f"{exchange} markets ({quote})"
    if source is UniverseSource.DEFAULT:
        return default_markets(quote=quote), "default list"
    stored = store_markets(ops) if ops is not None else []
    if stored:
        return stored, "stored candles"
    if source is UniverseSource.STORE:
        raise ConfigError("no candles in the store to take symbols from; run `coinray ingest backfill` "
                          "or use --universe exchange|default")
    return default_markets(quote=quote), "default list (no candles stored)"
