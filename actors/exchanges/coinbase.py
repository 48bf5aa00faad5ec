"""Coinbase Exchange (ccxt ``coinbaseexchange``): channel and symbol tables, wire schemas, parsers.

Venue product ids (``BTC-USD``) and venue field names stay inside this module.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from actors.exchanges._types import (
    Channel,
    Event,
    Ignored,
    Parser,
    Ticker,
    Trade,
    WsConnectionSpec,
    load_json_object,
    trade_from_ccxt_structure,
)
from cluster.errors import ParseError

logger = logging.getLogger(__name__)

EXCHANGE = "coinbase"
CCXT_ID = "coinbaseexchange"
#: ``trade_id`` is consecutive per product, so a jump is a gap.
SEQUENTIAL_TRADE_IDS = True
CHANNELS: dict[Channel, str] = {Channel.TRADES: "matches", Channel.TICKER: "ticker"}
WATCH_TRADES_PARAMS: dict[str, Any] = {}
CCXT_OPTIONS: dict[str, Any] = {"tradesLimit": 10_000}
WS_BASE = "wss://ws-feed.exchange.coinbase.com"
OHLCV_PAGE_LIMIT = 300
CANDLE_GRANULARITIES_S = (60, 300, 900, 3600, 21600, 86400)


def to_venue_symbol(symbol: str) -> str:
    """``BTC/USD`` -> ``BTC-USD``.

    >>> to_venue_symbol("SKL/USD")
    'SKL-USD'
    """
    return symbol.replace("/", "-")


def build_symbol_table(products: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Map product ids to unified symbols from a ``/products`` payload.

    >>> build_symbol_table([{"id": "SKL-USD", "base_currency": "SKL", "quote_currency": "USD"}])
    {'SKL-USD': 'SKL/USD'}
    """
    return {p["id"]: f"{p['base_currency']}/{p['quote_currency']}" for p in products}


def ccxt_urls(rest_base: str, ws_base: str) -> dict[str, Any]:
    """``exchange.urls['api']`` entries that point ccxt/ccxt.pro at ``rest_base``/``ws_base`` (a simulator)."""
    return {"public": rest_base, "private": rest_base, "ws": ws_base}


def ws_connections(symbols: Sequence[str], channels: Iterable[Channel], ws_base: str | None) -> list[WsConnectionSpec]:
    """Native-transport connection: one ``subscribe`` frame for every product and channel (no klines channel).

    >>> ws_connections(["SKL/USD"], [Channel.TRADES, Channel.KLINES], None)[0].messages
    ('{"type":"subscribe","product_ids":["SKL-USD"],"channels":["matches"]}',)
    """
    names = [CHANNELS[c] for c in sorted(set(channels)) if c in CHANNELS]
    msg = json.dumps({"type": "subscribe", "product_ids": [to_venue_symbol(s) for s in symbols], "channels": names},
                     separators=(",", ":"))
    return [WsConnectionSpec(ws_base or WS_BASE, (msg,), tuple(symbols))]


def register_symbols(unified: Iterable[str]) -> None:
    """No-op: Coinbase product ids map to unified symbols by replacing ``-`` with ``/``."""


def parse_time_ms(value: str) -> int:
    """Coinbase ISO-8601 time -> epoch ms.

    >>> parse_time_ms("2021-04-17T16:43:37.089723Z")
    1618677817089
    """
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


class MatchMsg(BaseModel):
    """Wire schema of a ``match``/``last_match`` message (venue field names)."""

    model_config = ConfigDict(frozen=True)

    type: str
    trade_id: int
    side: str
    size: float = Field(gt=0)
    price: float = Field(gt=0)
    product_id: str
    time: str

    @field_validator("side")
    @classmethod
    def _side(cls, value: str) -> str:
        if value not in ("buy", "sell"):
            raise ValueError("side must be buy or sell")
        return value


class TickerMsg(BaseModel):
    """Wire schema of a ``ticker`` message."""

    product_id: str
    price: float
    best_bid: float | None = None
    best_ask: float | None = None
    time: str | None = None


def parse_trade(msg: Mapping[str, Any], recv_ts_ms: int) -> Trade:
    """Parse a ``match`` message. ``side`` is the maker side; the returned side is the taker's.

    Sample (recorded 2021-04-17, trimmed)::

        {"type":"match","trade_id":280232,"side":"sell","size":"985","price":"0.00001305",
         "product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}

    Raises
    ------
    ParseError
        When a field is missing or malformed.
    """
    try:
        wire = MatchMsg.model_validate(msg)
        ts = parse_time_ms(wire.time)
    except (ValidationError, ValueError) as exc:
        raise ParseError("coinbase: bad match", exchange=EXCHANGE, channel="trades",
                         excerpt=json.dumps(msg)[:200]) from exc
    taker = "buy" if wire.side == "sell" else "sell"
    return Trade(wire.product_id.replace("-", "/"), wire.trade_id, ts, wire.price, wire.size, taker)


def parse_ticker(msg: Mapping[str, Any], recv_ts_ms: int) -> Ticker:
    """Parse a ``ticker`` message.

    Sample::

        {"type":"ticker","sequence":333938798,"product_id":"BAND-GBP","price":"14.7775",
         "best_bid":"14.7550","best_ask":"14.8060","side":"buy","time":"2021-04-17T16:43:30.244075Z"}
    """
    try:
        wire = TickerMsg.model_validate(msg)
        ts = parse_time_ms(wire.time) if wire.time else recv_ts_ms
    except (ValidationError, ValueError) as exc:
        raise ParseError("coinbase: bad ticker", exchange=EXCHANGE, channel="ticker",
                         excerpt=json.dumps(msg)[:200]) from exc
    return Ticker(wire.product_id.replace("-", "/"), ts, wire.best_bid, wire.best_ask, wire.price)


def _ignore(kind: str) -> Parser:
    def parse(msg: Mapping[str, Any], recv_ts_ms: int) -> Event:
        return Ignored(kind)

    return parse


_HANDLERS: dict[str, Parser] = {
    "match": parse_trade,
    "last_match": parse_trade,
    "ticker": parse_ticker,
    "subscriptions": _ignore("subscriptions"),
    "heartbeat": _ignore("heartbeat"),
    "snapshot": _ignore("snapshot"),
    "l2update": _ignore("l2update"),
}


def decode_frame(raw: bytes | str) -> tuple[str, Mapping[str, Any]]:
    """Decode one frame into (``type``, payload).

    Raises
    ------
    ParseError
        When the frame is not a JSON object.
    """
    msg = load_json_object(raw, exchange=EXCHANGE)
    return str(msg.get("type", "unknown")), msg


def parser_for(event_type: str) -> Parser | None:
    """The parser for a venue message type (None = unknown type)."""
    return _HANDLERS.get(event_type)


def trade_from_ccxt(trade: Mapping[str, Any]) -> Trade:
    """Convert one ccxt trade structure (ccxt already reports the taker side); raises ``ParseError``."""
    return trade_from_ccxt_structure(trade, exchange=EXCHANGE)


async def fetch_trades_after(client: Any, symbol: str, after_id: int, *, limit: int = 1000) -> list[Trade]:
    """One REST page of trades with ids above ``after_id``, oldest first (``/trades?before=`` cursor).

    Parameters
    ----------
    client:
        A ccxt (async) ``coinbaseexchange`` instance.
    """
    raw = await client.fetch_trades(symbol, None, limit, {"before": after_id})
    return sorted((trade_from_ccxt(t) for t in raw), key=lambda t: t.trade_id)
