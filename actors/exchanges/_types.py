"""Venue-independent domain types and the ``Venue`` protocol that every venue module satisfies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol


class Exchange(StrEnum):
    """Exchanges with a venue module (any other ccxt.pro id works through the generic venue)."""

    BINANCE = "binance"
    COINBASE = "coinbase"


class Channel(StrEnum):
    """Standard channel names (mapped to venue names by each module's ``CHANNELS``)."""

    TRADES = "trades"
    KLINES = "klines"
    TICKER = "ticker"


class Trade(NamedTuple):
    """One public trade in the unified form.

    Attributes
    ----------
    symbol:
        ccxt unified symbol (``BTC/USDT``).
    trade_id:
        The venue's trade id as an integer (consecutive per symbol on Binance and Coinbase).
    ts:
        Exchange timestamp, UTC epoch milliseconds.
    price, amount:
        Price in quote currency and size in base currency.
    side:
        ``buy`` or ``sell`` (taker side).
    """

    symbol: str
    trade_id: int
    ts: int
    price: float
    amount: float
    side: str


@dataclass(frozen=True)
class Kline:
    """An exchange-built candle from a kline/candles channel."""

    symbol: str
    timeframe: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool


@dataclass(frozen=True)
class Ticker:
    """Best bid/ask or last-price update."""

    symbol: str
    ts: int
    bid: float | None
    ask: float | None
    last: float | None


@dataclass(frozen=True)
class Ignored:
    """A frame that carries no market data (subscription acks, heartbeats, book deltas we skip)."""

    kind: str


Event = Trade | Kline | Ticker | Ignored
Parser = Callable[[Mapping[str, Any], int], Event]


class Venue(Protocol):
    """What :mod:`actors.exchange_stream_core` needs from a venue module (duck-typed module)."""

    EXCHANGE: str
    CCXT_ID: str
    SEQUENTIAL_TRADE_IDS: bool
    WATCH_TRADES_PARAMS: Mapping[str, Any]

    def decode_frame(self, raw: bytes | str) -> tuple[str, Mapping[str, Any]]:
        """Decode one frame into (venue event type, payload)."""
        ...

    def parser_for(self, event_type: str) -> Parser | None:
        """The channel parser for a venue event type, or None when it is unknown."""
        ...

    def trade_from_ccxt(self, trade: Mapping[str, Any]) -> Trade:
        """Convert one ccxt trade structure."""
        ...


def trade_from_ccxt_structure(trade: Mapping[str, Any], *, exchange: str) -> Trade:
    """Convert one ccxt unified trade structure (``watch_trades``/``fetch_trades``) to a :class:`Trade`.

    ccxt already normalises trades (and reports the taker side), so every venue shares this.

    Raises
    ------
    ParseError
        When id, timestamp, price or amount is missing or not a number.
    """
    from cluster.errors import ParseError

    try:
        return Trade(str(trade["symbol"]), int(trade["id"]), int(trade["timestamp"]), float(trade["price"]),
                     float(trade["amount"]), str(trade.get("side") or ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"{exchange}: bad ccxt trade", exchange=exchange, channel="trades",
                         excerpt=str(trade.get("info", trade))[:200]) from exc


def load_json_object(raw: bytes | str, *, exchange: str) -> dict[str, Any]:
    """Decode one WebSocket frame that must be a JSON object.

    Raises
    ------
    ParseError
        When the frame is not JSON or not an object (with a truncated raw excerpt).
    """
    import json

    from cluster.errors import ParseError

    try:
        msg = json.loads(raw)
    except ValueError as exc:
        excerpt = raw[:200] if isinstance(raw, str) else raw[:200].decode(errors="replace")
        raise ParseError(f"{exchange}: frame is not JSON", exchange=exchange, excerpt=excerpt) from exc
    if not isinstance(msg, dict):
        raise ParseError(f"{exchange}: frame is not an object", exchange=exchange, excerpt=str(msg)[:200])
    return msg
