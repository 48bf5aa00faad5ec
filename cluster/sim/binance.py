"""Binance spot wire formats for the simulator: REST routes (table-driven) and WebSocket frames."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

from aiohttp import web

from cluster.schemas import TIMEFRAME_MS
from cluster.sim.dataset import SimTrade
from cluster.sim.state import ReplayState, Route

EXCHANGE = "binance"
WS_PATHS = ("/ws", "/ws/{stream}")
_INFO_TEMPLATE: dict[str, Any] = json.loads(
    resources.files("cluster.sim.recorded").joinpath("binance_exchange_info.json").read_text())


def venue_symbol(symbol: str) -> str:
    """``XRP/ETH`` -> ``XRPETH``."""
    return symbol.replace("/", "")


def _symbols(state: ReplayState) -> dict[str, str]:
    return {venue_symbol(s): s for s in state.dataset.symbols()}


def _symbol_param(state: ReplayState, request: web.Request) -> str:
    venue = request.query.get("symbol", "")
    table = _symbols(state)
    if venue not in table:
        raise web.HTTPBadRequest(text=json.dumps({"code": -1121, "msg": "Invalid symbol."}),
                                 content_type="application/json")
    return table[venue]


def _json(data: Any, weight: int = 1) -> web.Response:
    return web.json_response(data, headers={"X-MBX-USED-WEIGHT-1M": str(weight)})


async def ping(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /api/v3/ping``."""
    return _json({})


async def server_time(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /api/v3/time``."""
    return _json({"serverTime": state.now_ms()})


async def exchange_info(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /api/v3/exchangeInfo``: recorded entries, cloned for symbols the recording lacks."""
    info = {k: v for k, v in _INFO_TEMPLATE.items() if k != "symbols"}
    info["serverTime"] = state.now_ms()
    recorded = {s["symbol"]: s for s in _INFO_TEMPLATE["symbols"]}
    template = _INFO_TEMPLATE["symbols"][0]
    symbols = []
    for venue, unified in sorted(_symbols(state).items()):
        base, quote = unified.split("/")
        entry = copy.deepcopy(recorded.get(venue, template))
        entry.update(symbol=venue, baseAsset=base, quoteAsset=quote, status="TRADING",
                     permissions=["SPOT"], isSpotTradingAllowed=True)
        symbols.append(entry)
    info["symbols"] = symbols
    return _json(info, 20)


async def klines(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /api/v3/klines``: recorded candles (``startTime``/``endTime`` inclusive, ``limit`` <= 1000)."""
    symbol = _symbol_param(state, request)
    interval = request.query.get("interval", "")
    if interval not in TIMEFRAME_MS:
        raise web.HTTPBadRequest(text=json.dumps({"code": -1120, "msg": "Invalid interval."}),
                                 content_type="application/json")
    limit = min(int(request.query.get("limit", 500)), 1000)
    start = int(request.query["startTime"]) if "startTime" in request.query else None
    end = int(request.query["endTime"]) if "endTime" in request.query else None
    rows = state.dataset.candles(symbol, interval, start, end, limit)
    if start is None and end is None:
        rows = state.dataset.klines.get((symbol, interval), [])[-limit:]
    ms = TIMEFRAME_MS[interval]
    return _json([[ts, _s(o), _s(h), _s(lo), _s(c), _s(v), ts + ms - 1, _s(v * c), 0, "0", "0", "0"]
                  for ts, o, h, lo, c, v in rows], 2)


def _s(x: float) -> str:
    return repr(float(x))


def _agg(t: SimTrade) -> dict[str, Any]:
    return {"a": t.trade_id, "p": _s(t.price), "q": _s(t.amount), "f": t.trade_id, "l": t.trade_id,
            "T": t.ts, "m": t.side == "sell", "M": True}


async def agg_trades(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /api/v3/aggTrades`` (``fromId`` or ``startTime``/``endTime``; published trades only)."""
    symbol = _symbol_param(state, request)
    limit = min(int(request.query.get("limit", 500)), 1000)
    if "fromId" in request.query:
        rows = state.trades_from_id(symbol, int(request.query["fromId"]), limit)
    else:
        start = int(request.query.get("startTime", 0))
        end = int(request.query.get("endTime", 2**62))
        rows = [t for t in state.visible(symbol) if start <= t.ts <= end][:limit]
        if "startTime" not in request.query:
            rows = state.visible(symbol)[-limit:]
    return _json([_agg(t) for t in rows], 2)


async def recent_trades(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /api/v3/trades``: the newest published trades."""
    symbol = _symbol_param(state, request)
    limit = min(int(request.query.get("limit", 500)), 1000)
    return _json([{"id": t.trade_id, "price": _s(t.price), "qty": _s(t.amount), "quoteQty": _s(t.price * t.amount),
                   "time": t.ts, "isBuyerMaker": t.side == "sell", "isBestMatch": True}
                  for t in state.visible(symbol)[-limit:]], 10)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v3/ping", ping),
    Route("GET", "/api/v3/time", server_time),
    Route("GET", "/api/v3/exchangeInfo", exchange_info, 20),
    Route("GET", "/api/v3/klines", klines, 2),
    Route("GET", "/api/v3/aggTrades", agg_trades, 2),
    Route("GET", "/api/v3/trades", recent_trades, 10),
)


# -- WebSocket ------------------------------------------------------------------------------------
def parse_subscribe(msg: dict[str, Any], symbols: dict[str, str]) -> tuple[set[tuple[str, str]], str] | None:
    """``{"method": "SUBSCRIBE", "params": ["xrpeth@aggTrade"], "id": 1}`` -> ({(symbol, channel)}, ack)."""
    if msg.get("method") != "SUBSCRIBE":
        return None
    lower = {k.lower(): v for k, v in symbols.items()}
    subs: set[tuple[str, str]] = set()
    for param in msg.get("params", []):
        venue, _, stream = str(param).partition("@")
        if venue in lower:
            subs.add((lower[venue], stream))
    return subs, json.dumps({"result": None, "id": msg.get("id")})


def trade_frames(trade: SimTrade, channels: set[str], now_ms: int) -> list[str]:
    """Frames for one trade on the subscribed channels (``aggTrade``, ``trade``, ``bookTicker``; ``kline_1m``
    frames come from :func:`kline_frame`).

    The recording has trades only, so a ``bookTicker`` frame quotes the trade's price as both best bid
    and best ask (and its amount as both sizes), in Binance's wire format (no event-type field).
    """
    venue = venue_symbol(trade.symbol)
    out = []
    if "aggTrade" in channels:
        out.append(json.dumps({"e": "aggTrade", "E": trade.ts, "s": venue, **_agg(trade)}))
    if "trade" in channels:
        out.append(json.dumps({"e": "trade", "E": trade.ts, "s": venue, "t": trade.trade_id, "p": _s(trade.price),
                               "q": _s(trade.amount), "T": trade.ts, "m": trade.side == "sell", "M": True}))
    if "bookTicker" in channels:
        out.append(json.dumps({"u": trade.trade_id, "s": venue, "b": _s(trade.price), "B": _s(trade.amount),
                               "a": _s(trade.price), "A": _s(trade.amount)}))
    return out


def kline_frame(symbol: str, candle: tuple[int, float, float, float, float, float, int], closed: bool,
                now_ms: int) -> str:
    """A ``kline_1m`` event for an exchange-built candle (``ts, o, h, l, c, v, n``)."""
    ts, o, h, lo, c, v, n = candle
    venue = venue_symbol(symbol)
    return json.dumps({"e": "kline", "E": now_ms, "s": venue, "k": {
        "t": ts, "T": ts + 59_999, "s": venue, "i": "1m", "f": 0, "L": 0, "o": _s(o), "c": _s(c), "h": _s(h),
        "l": _s(lo), "v": _s(v), "n": n, "x": closed, "q": _s(v * c), "V": "0", "Q": "0", "B": "0"}})


def malformed_frame(trade: SimTrade) -> str:
    """A known event type with a broken field set (no price or quantity)."""
    return json.dumps({"e": "aggTrade", "E": trade.ts, "s": venue_symbol(trade.symbol), "a": trade.trade_id})


def unknown_frame(trade: SimTrade) -> str:
    """A well-formed event of a type no client knows."""
    return json.dumps({"e": "simUnknownEvent", "E": trade.ts, "s": venue_symbol(trade.symbol)})
