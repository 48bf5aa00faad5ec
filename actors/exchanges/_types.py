"""Venue-independent domain types and the ``Venue`` protocol that every venue module satisfies."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

try:  # orjson ships with ccxt; ~4x faster than the standard library on venue frames
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - the standard library fallback
    from json import loads as _loads  # type: ignore[assignment]


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


class OpaqueTrade(NamedTuple):
    """One public trade of a venue whose trade ids are not consecutive integers (the generic ccxt venue).

    Attributes
    ----------
    symbol:
        ccxt unified symbol.
    trade_id:
        The venue's trade id as an opaque string (a uuid, a non-consecutive number), or None when the
        venue sends none. Only equality is meaningful.
    ts:
        Exchange timestamp, UTC epoch milliseconds.
    price, amount:
        Price in quote currency and size in base currency.
    side:
        ``buy``, ``sell`` or ``""`` when the venue does not say (taker side).
    """

    symbol: str
    trade_id: str | None
    ts: int
    price: float
    amount: float
    side: str

    def key(self) -> tuple[str | int | float, ...]:
        """De-duplication key: the id when there is one, else (ts, price, amount, side).

        >>> OpaqueTrade("A/B", "7f3a", 5, 1.0, 2.0, "buy").key()
        ('id', '7f3a')
        >>> OpaqueTrade("A/B", None, 5, 1.0, 2.0, "buy").key()
        ('t', 5, 1.0, 2.0, 'buy')
        """
        if self.trade_id is not None:
            return ("id", self.trade_id)
        return ("t", self.ts, self.price, self.amount, self.side)

    def order_key(self) -> tuple[int, int, str]:
        """Deterministic order of trades: time, then the id (numeric strings order numerically), else the values.

        Trades of one millisecond then get the same open/close whatever order they arrived in (live,
        reordered, or rebuilt from REST after a restart).

        >>> sorted(OpaqueTrade("A/B", i, 5, 1.0, 1.0, "buy").order_key() for i in ("10", "9"))
        [(5, 1, '9'), (5, 2, '10')]
        """
        if self.trade_id is not None:
            return (self.ts, len(self.trade_id), self.trade_id)
        return (self.ts, 0, f"{self.price!r}|{self.amount!r}|{self.side}")


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


class WsConnectionSpec(NamedTuple):
    """One native WebSocket connection: where to dial, what to send after connecting, which symbols it carries.

    Attributes
    ----------
    url:
        ``wss://`` (or a simulator's ``ws://``) URL.
    messages:
        Subscribe frames in the venue's format, sent in order after the connection opens.
    symbols:
        ccxt unified symbols whose data arrives on this connection (a drop marks them disconnected).
    """

    url: str
    messages: tuple[str, ...]
    symbols: tuple[str, ...]
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


class NativeVenue(Venue, Protocol):
    """A venue with raw-frame parsers that the native transport can stream from without ccxt.pro."""

    def ws_connections(self, symbols: Sequence[str], channels: Iterable[Channel],
                       ws_base: str | None) -> list[WsConnectionSpec]:
        """The connections (URL and subscribe frames) that carry ``channels`` of ``symbols``."""
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


def closed_klines_from_ccxt(symbol: str, timeframe: str, rows: Sequence[Sequence[Any]],
                            previous: Sequence[Any] | None) -> tuple[list[Kline], Sequence[Any] | None]:
    """Closed candles from ccxt.pro ``watch_ohlcv`` updates, and the newest row seen so far.

    ccxt does not expose the venue's "closed" flag (and by default returns only the updated rows):
    a row is final once a row of a later minute arrives, so the last state of each minute is kept
    in ``previous`` between calls.

    >>> closed, last = closed_klines_from_ccxt("A/B", "1m", [[0, 1, 2, 0.5, 1.5, 3]], None)
    >>> closed, last = closed_klines_from_ccxt("A/B", "1m", [[0, 1, 2, 0.5, 1.6, 4], [60_000, 1, 1, 1, 1, 1]], last)
    >>> [(k.ts, k.close, k.volume) for k in closed], last[0]
    ([(0, 1.6, 4.0)], 60000)
    """
    out = []
    prev = previous
    for row in rows:
        if prev is not None and row[0] > prev[0]:
            ts, o, h, lo, c, v = prev[:6]
            out.append(Kline(symbol, timeframe, int(ts), float(o), float(h), float(lo), float(c), float(v or 0.0),
                             True))
        if prev is None or row[0] >= prev[0]:
            prev = row
    return out, prev


def ticker_from_ccxt(symbol: str, ticker: Mapping[str, Any], recv_ts_ms: int) -> Ticker:
    """A ccxt unified ticker structure (``watch_ticker``) as a :class:`Ticker`.

    >>> ticker_from_ccxt("A/B", {"timestamp": 5, "bid": 1.0, "ask": 1.1, "last": None}, 9)
    Ticker(symbol='A/B', ts=5, bid=1.0, ask=1.1, last=None)
    """

    def num(key: str) -> float | None:
        value = ticker.get(key)
        return float(value) if value is not None else None

    return Ticker(symbol, int(ticker.get("timestamp") or recv_ts_ms), num("bid"), num("ask"), num("last"))


def load_json_object(raw: bytes | str, *, exchange: str) -> dict[str, Any]:
    """Decode one WebSocket frame that must be a JSON object.

    Raises
    ------
    ParseError
        When the frame is not JSON or not an object (with a truncated raw excerpt).
    """
    from cluster.errors import ParseError

    try:
        msg = _loads(raw)
    except ValueError as exc:  # orjson.JSONDecodeError and json.JSONDecodeError are ValueErrors
        excerpt = raw[:200] if isinstance(raw, str) else raw[:200].decode(errors="replace")
        raise ParseError(f"{exchange}: frame is not JSON", exchange=exchange, excerpt=excerpt) from exc
    if not isinstance(msg, dict):
        raise ParseError(f"{exchange}: frame is not an object", exchange=exchange, excerpt=str(msg)[:200])
    return msg
