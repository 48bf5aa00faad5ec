"""Binance spot: channel and symbol tables, wire schemas and one parser per channel.

Venue symbols (``BTCUSDT``) and venue field names stay inside this module; everything it returns
uses ccxt unified symbols and the domain types of :mod:`actors.exchanges._types`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actors.exchanges._types import (
    Channel,
    Event,
    Ignored,
    Kline,
    Parser,
    Ticker,
    Trade,
    WsConnectionSpec,
    load_json_object,
    trade_from_ccxt_structure,
)
from cluster.errors import ParseError

logger = logging.getLogger(__name__)

EXCHANGE = "binance"
CCXT_ID = "binance"
#: Aggregate trade ids (``a``) are consecutive per symbol, so a jump is a gap.
SEQUENTIAL_TRADE_IDS = True
CHANNELS: dict[Channel, str] = {Channel.TRADES: "aggTrade", Channel.KLINES: "kline", Channel.TICKER: "bookTicker"}
#: ccxt.pro streams ``<symbol>@trade`` by default; aggTrade ids match the REST ``aggTrades`` ids used for repair.
WATCH_TRADES_PARAMS: dict[str, Any] = {"name": "aggTrade"}
#: ccxt options that keep ``load_markets`` to spot and make ``fetch_trades`` use ``aggTrades``.
CCXT_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchTradesMethod": "publicGetAggTrades",
    "fetchCurrencies": False,
    "tradesLimit": 10_000,
}
#: Stream name suffixes of the native transport (``<symbol>@<suffix>``).
STREAMS: dict[Channel, str] = {Channel.TRADES: "aggTrade", Channel.KLINES: "kline_1m", Channel.TICKER: "bookTicker"}
WS_BASE = "wss://stream.binance.com:9443"
#: Binance allows 1024 streams per connection; params per SUBSCRIBE are kept small (the 5 msg/s limit applies).
MAX_STREAMS_PER_CONNECTION = 1000
MAX_PARAMS_PER_MESSAGE = 200
OHLCV_PAGE_LIMIT = 1000
KLINE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")


def to_venue_symbol(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTCUSDT``.

    >>> to_venue_symbol("XRP/ETH")
    'XRPETH'
    """
    return symbol.replace("/", "")


def build_symbol_table(exchange_info: Mapping[str, Any]) -> dict[str, str]:
    """Map venue symbols to unified symbols from an ``/api/v3/exchangeInfo`` payload.

    >>> build_symbol_table({"symbols": [{"symbol": "XRPETH", "baseAsset": "XRP", "quoteAsset": "ETH"}]})
    {'XRPETH': 'XRP/ETH'}
    """
    return {s["symbol"]: f"{s['baseAsset']}/{s['quoteAsset']}" for s in exchange_info.get("symbols", [])}


def ccxt_urls(rest_base: str, ws_base: str) -> dict[str, Any]:
    """``exchange.urls['api']`` entries that point ccxt/ccxt.pro at ``rest_base``/``ws_base`` (a simulator)."""
    return {
        "public": f"{rest_base}/api/v3",
        "private": f"{rest_base}/api/v3",
        "v1": f"{rest_base}/api/v1",
        "ws": {"spot": f"{ws_base}/ws", "margin": f"{ws_base}/ws"},
    }


def ws_connections(symbols: Sequence[str], channels: Iterable[Channel], ws_base: str | None) -> list[WsConnectionSpec]:
    """Native-transport connections: ``/ws`` with ``SUBSCRIBE`` frames for every symbol and channel.

    Sample subscribe frame::

        {"method":"SUBSCRIBE","params":["xrpeth@aggTrade","xrpeth@kline_1m"],"id":1}

    >>> [c.messages for c in ws_connections(["XRP/ETH"], [Channel.TRADES], "ws://127.0.0.1:1")]
    [('{"method":"SUBSCRIBE","params":["xrpeth@aggTrade"],"id":1}',)]
    """
    suffixes = [STREAMS[c] for c in sorted(set(channels)) if c in STREAMS]
    per_conn = max(1, MAX_STREAMS_PER_CONNECTION // max(1, len(suffixes)))
    url = f"{ws_base or WS_BASE}/ws"
    out = []
    for start in range(0, len(symbols), per_conn):
        group = tuple(symbols[start:start + per_conn])
        params = [f"{to_venue_symbol(s).lower()}@{suffix}" for s in group for suffix in suffixes]
        messages = tuple(
            json.dumps({"method": "SUBSCRIBE", "params": params[i:i + MAX_PARAMS_PER_MESSAGE], "id": n + 1},
                       separators=(",", ":"))
            for n, i in enumerate(range(0, len(params), MAX_PARAMS_PER_MESSAGE)))
        out.append(WsConnectionSpec(url, messages, group))
    return out


_SYMBOLS: dict[str, str] = {}


def register_symbols(unified: Iterable[str]) -> None:
    """Teach the raw-frame parsers the unified form of these symbols (``XRP/ETH`` for ``XRPETH``)."""
    for symbol in unified:
        _SYMBOLS[to_venue_symbol(symbol)] = symbol


def _unified(venue_symbol: str) -> str:
    return _SYMBOLS.get(venue_symbol, venue_symbol)


class AggTradeMsg(BaseModel):
    """Wire schema of an ``aggTrade`` event (venue field names)."""

    model_config = ConfigDict(frozen=True)

    e: str
    E: int
    s: str
    a: int
    p: float
    q: float = Field(gt=0)
    T: int
    m: bool


class KlineBody(BaseModel):
    """The ``k`` object of a ``kline`` event."""

    t: int
    i: str
    o: float
    h: float
    low: float = Field(alias="l")
    c: float
    v: float
    x: bool


class KlineMsg(BaseModel):
    """Wire schema of a ``kline`` event."""

    e: str
    E: int
    s: str
    k: KlineBody


class BookTickerMsg(BaseModel):
    """Wire schema of a ``bookTicker`` event (no event type field on the wire)."""

    s: str
    b: float
    a: float


def parse_trade(msg: Mapping[str, Any], recv_ts_ms: int) -> Trade:
    """Parse an ``aggTrade`` (or ``trade``) event.

    Sample (recorded 2021-10-12, trimmed)::

        {"e":"aggTrade","E":1633998523963,"s":"NKNUSDT","a":15683430,"p":"0.35280000",
         "q":"58.00000000","f":19862790,"l":19862790,"T":1633998523963,"m":false,"M":true}

    Raises
    ------
    ParseError
        When a field is missing or malformed.
    """
    try:
        body = dict(msg)
        if "a" not in body and "t" in body:  # plain @trade stream
            body["a"] = body["t"]
        wire = AggTradeMsg.model_validate(body)
    except ValidationError as exc:
        raise ParseError(f"binance: bad trade: {exc.errors()[0]['msg']}", exchange=EXCHANGE, channel="trades",
                         excerpt=json.dumps(msg)[:200]) from exc
    return Trade(_unified(wire.s), wire.a, wire.T, wire.p, wire.q, "sell" if wire.m else "buy")


def parse_kline(msg: Mapping[str, Any], recv_ts_ms: int) -> Kline:
    """Parse a ``kline`` event.

    Sample::

        {"e":"kline","E":1633998513226,"s":"NKNUSDT","k":{"t":1633998480000,"T":1633998539999,
         "s":"NKNUSDT","i":"1m","o":"0.35140000","c":"0.35080000","h":"0.35140000","l":"0.35070000",
         "v":"3383.00000000","n":7,"x":false}}
    """
    try:
        wire = KlineMsg.model_validate(msg)
    except ValidationError as exc:
        raise ParseError("binance: bad kline", exchange=EXCHANGE, channel="klines",
                         excerpt=json.dumps(msg)[:200]) from exc
    k = wire.k
    return Kline(_unified(wire.s), k.i, k.t, k.o, k.h, k.low, k.c, k.v, k.x)


def parse_ticker(msg: Mapping[str, Any], recv_ts_ms: int) -> Ticker:
    """Parse a ``bookTicker`` event.

    Sample::

        {"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}
    """
    try:
        wire = BookTickerMsg.model_validate(msg)
    except ValidationError as exc:
        raise ParseError("binance: bad bookTicker", exchange=EXCHANGE, channel="ticker",
                         excerpt=json.dumps(msg)[:200]) from exc
    return Ticker(_unified(wire.s), recv_ts_ms, wire.b, wire.a, None)


def _ignore(kind: str) -> Parser:
    def parse(msg: Mapping[str, Any], recv_ts_ms: int) -> Event:
        return Ignored(kind)

    return parse


_HANDLERS: dict[str, Parser] = {
    "aggTrade": parse_trade,
    "trade": parse_trade,
    "kline": parse_kline,
    "bookTicker": parse_ticker,
    "depthUpdate": _ignore("depthUpdate"),
    "subscription": _ignore("subscription"),
}


def decode_frame(raw: bytes | str) -> tuple[str, Mapping[str, Any]]:
    """Decode one frame into (event type, payload); unwraps combined-stream ``{"stream", "data"}``.

    Raises
    ------
    ParseError
        When the frame is not a JSON object.
    """
    msg = load_json_object(raw, exchange=EXCHANGE)
    if "stream" in msg and isinstance(msg.get("data"), dict):
        msg = msg["data"]
    if "e" in msg:
        return str(msg["e"]), msg
    if "result" in msg and "id" in msg:
        return "subscription", msg
    if {"u", "s", "b", "a"} <= msg.keys():
        return "bookTicker", msg
    return "unknown", msg


def parser_for(event_type: str) -> Parser | None:
    """The parser for a venue event type (None = unknown type)."""
    return _HANDLERS.get(event_type)


def trade_from_ccxt(trade: Mapping[str, Any]) -> Trade:
    """Convert one ccxt trade structure (from ``watch_trades``/``fetch_trades``); raises ``ParseError``."""
    return trade_from_ccxt_structure(trade, exchange=EXCHANGE)


async def fetch_trades_after(client: Any, symbol: str, after_id: int, *, limit: int = 1000) -> list[Trade]:
    """One REST page of trades with ids above ``after_id``, oldest first (``aggTrades?fromId=``).

    Parameters
    ----------
    client:
        A ccxt (async) ``binance`` instance.
    """
    raw = await client.fetch_trades(symbol, None, limit, {"fromId": after_id + 1})
    return [trade_from_ccxt(t) for t in raw]
