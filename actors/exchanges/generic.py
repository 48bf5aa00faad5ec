"""The generic venue: any ccxt.pro exchange id, streamed through ccxt's unified structures only.

It has no raw-frame parsers (so it always uses the ccxt transport), treats trade ids as opaque
strings (or absent), and repairs by time: ``fetch_trades(symbol, since=...)`` paged forward.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from actors.exchanges._types import OpaqueTrade
from cluster.errors import ConfigError, ParseError

logger = logging.getLogger(__name__)


def ccxt_pro_ids() -> list[str]:
    """Every exchange id ccxt.pro streams (``ccxt.pro.exchanges``)."""
    import ccxt.pro as ccxtpro

    return list(ccxtpro.exchanges)


def check_ccxt_id(ccxt_id: str) -> None:
    """Raise ``ConfigError`` unless ``ccxt_id`` is a ccxt.pro exchange, listing close matches.

    Raises
    ------
    ConfigError
        For an id ccxt.pro does not know.
    """
    ids = ccxt_pro_ids()
    if ccxt_id in ids:
        return
    close = difflib.get_close_matches(ccxt_id, ids, n=5, cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else f"; ccxt.pro has {len(ids)} exchanges"
    raise ConfigError(f"no venue module and no ccxt.pro exchange named {ccxt_id!r}{hint}")


def rewrite_urls(urls: Any, rest_base: str, ws_base: str) -> Any:
    """Point every URL of a ccxt ``urls['api']`` tree at ``rest_base`` (http) or ``ws_base`` (ws), keeping paths.

    An empty base leaves URLs of that kind unchanged.

    >>> rewrite_urls({"public": "https://api.x.com/v3", "ws": {"spot": "wss://s.x.com:9443/ws"}},
    ...              "http://127.0.0.1:5", "ws://127.0.0.1:5")
    {'public': 'http://127.0.0.1:5/v3', 'ws': {'spot': 'ws://127.0.0.1:5/ws'}}
    """
    if isinstance(urls, dict):
        return {k: rewrite_urls(v, rest_base, ws_base) for k, v in urls.items()}
    if not isinstance(urls, str) or "://" not in urls:
        return urls
    parts = urlsplit(urls)
    base = ws_base if parts.scheme in ("ws", "wss") else rest_base if parts.scheme in ("http", "https") else ""
    if not base:
        return urls
    new = urlsplit(base)
    return urlunsplit((new.scheme, new.netloc, new.path.rstrip("/") + parts.path, parts.query, parts.fragment))


class GenericVenue:
    """A venue for any ccxt.pro exchange id (duck-types the venue modules' interface).

    Parameters
    ----------
    ccxt_id:
        The ccxt.pro exchange id (``kraken``, ``coinbaseexchange``); also the coinray exchange name.

    Raises
    ------
    ConfigError
        For an id ccxt.pro does not know (with close matches).
    """

    SEQUENTIAL_TRADE_IDS = False
    #: trade ids are compared for equality only; gaps come from disconnects, repairs page by time
    OPAQUE_TRADE_IDS = True
    OHLCV_PAGE_LIMIT = 500

    def __init__(self, ccxt_id: str) -> None:
        check_ccxt_id(ccxt_id)
        self.EXCHANGE = ccxt_id
        self.CCXT_ID = ccxt_id
        self.WATCH_TRADES_PARAMS: dict[str, Any] = {}
        #: a bigger ccxt.pro trade cache than the default 1000: trades dropped from it are only found by a repair
        self.CCXT_OPTIONS: dict[str, Any] = {"tradesLimit": 10_000}

    def __repr__(self) -> str:
        return f"GenericVenue({self.CCXT_ID!r})"

    def register_symbols(self, unified: Iterable[str]) -> None:
        """No-op: ccxt already reports unified symbols."""

    def ccxt_urls(self, rest_base: str, ws_base: str) -> dict[str, Any]:
        """The exchange's ccxt ``urls['api']`` with every host replaced by ``rest_base``/``ws_base`` (a simulator)."""
        import ccxt.pro as ccxtpro

        api = getattr(ccxtpro, self.CCXT_ID)().urls["api"]
        return dict(rewrite_urls(api, rest_base.rstrip("/"), ws_base.rstrip("/")))

    def trade_from_ccxt(self, trade: Mapping[str, Any]) -> OpaqueTrade:
        """Convert one ccxt unified trade structure; the id is kept as an opaque string (or None).

        >>> GenericVenue.__new__(GenericVenue).trade_from_ccxt({"symbol": "A/B", "id": "c0ffee", "timestamp": 7,
        ...                                                     "price": 1.5, "amount": 2, "side": "sell"})
        OpaqueTrade(symbol='A/B', trade_id='c0ffee', ts=7, price=1.5, amount=2.0, side='sell')

        Raises
        ------
        ParseError
            When symbol, timestamp, price or amount is missing or not a number.
        """
        try:
            raw_id = trade.get("id")
            return OpaqueTrade(str(trade["symbol"]), None if raw_id in (None, "") else str(raw_id),
                               int(trade["timestamp"]), float(trade["price"]), float(trade["amount"]),
                               str(trade.get("side") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            exchange = getattr(self, "EXCHANGE", "generic")
            raise ParseError(f"{exchange}: bad ccxt trade", exchange=exchange, channel="trades",
                             excerpt=str(trade.get("info", trade))[:200]) from exc

    async def fetch_trades_since(self, client: Any, symbol: str, since_ms: int, *,
                                 limit: int = 1000) -> list[OpaqueTrade]:
        """One REST page of trades at or after ``since_ms``, oldest first.

        Exchanges that ignore ``since`` answer with their newest trades (ccxt filters them by time);
        the caller detects that a full page did not reach back to ``since``.
        """
        raw = await client.fetch_trades(symbol, since_ms, limit)
        return sorted((self.trade_from_ccxt(t) for t in raw), key=lambda t: t.ts)
