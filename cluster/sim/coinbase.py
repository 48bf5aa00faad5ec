"""Coinbase Exchange wire formats for the simulator: REST routes (table-driven) and WebSocket frames."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web

from cluster.sim.dataset import SimTrade
from cluster.sim.state import ReplayState, Route

EXCHANGE = "coinbase"
WS_PATHS = ("/", "/ws")
_PRODUCTS: list[dict[str, Any]] = json.loads(
    resources.files("cluster.sim.recorded").joinpath("coinbase_products.json").read_text())
_GRANULARITY_TF = {60: "1m", 300: "5m", 900: "15m", 3600: "1h", 21600: "6h", 86400: "1d"}


def venue_symbol(symbol: str) -> str:
    """``SKL/USD`` -> ``SKL-USD``."""
    return symbol.replace("/", "-")


def iso(ts_ms: int) -> str:
    """Epoch ms -> Coinbase ISO time (``2021-04-17T16:43:37.089000Z``)."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _product(state: ReplayState, request: web.Request) -> str:
    table = {venue_symbol(s): s for s in state.dataset.symbols()}
    pid = request.match_info["pid"]
    if pid not in table:
        raise web.HTTPNotFound(text=json.dumps({"message": "NotFound"}), content_type="application/json")
    return table[pid]


async def server_time(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /time``."""
    now = state.now_ms()
    return web.json_response({"iso": iso(now), "epoch": now / 1000})


async def products(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /products``: recorded entries, cloned for symbols the recording lacks."""
    recorded = {p["id"]: p for p in _PRODUCTS}
    out = []
    for symbol in state.dataset.symbols():
        base, quote = symbol.split("/")
        entry = copy.deepcopy(recorded.get(venue_symbol(symbol), _PRODUCTS[0]))
        entry.update(id=venue_symbol(symbol), base_currency=base, quote_currency=quote,
                     display_name=f"{base}/{quote}", status="online", trading_disabled=False)
        out.append(entry)
    return web.json_response(out)


async def currencies(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /currencies``: one entry per asset of the served products."""
    assets = sorted({a for s in state.dataset.symbols() for a in s.split("/")})
    return web.json_response([{"id": a, "name": a, "min_size": "0.00000001", "status": "online", "message": "",
                               "max_precision": "0.00000001", "convertible_to": [], "details": {"type": "crypto"}}
                              for a in assets])


def _match(t: SimTrade) -> dict[str, Any]:
    maker = "sell" if t.side == "buy" else "buy"
    return {"time": iso(t.ts), "trade_id": t.trade_id, "price": repr(t.price), "size": repr(t.amount), "side": maker}


async def trades(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /products/{pid}/trades``: newest first; ``before=id`` pages newer, ``after=id`` pages older."""
    symbol = _product(state, request)
    limit = min(int(request.query.get("limit", 100)), 1000)
    rows = state.visible(symbol)
    if "before" in request.query:
        page = state.trades_from_id(symbol, int(request.query["before"]) + 1, limit)
    elif "after" in request.query:
        older = [t for t in rows if t.trade_id < int(request.query["after"])]
        page = older[-limit:]
    else:
        page = rows[-limit:]
    page = sorted(page, key=lambda t: -t.trade_id)
    headers = {}
    if page:
        headers = {"cb-before": str(page[0].trade_id), "cb-after": str(page[-1].trade_id)}
    return web.json_response([_match(t) for t in page], headers=headers)


async def candles(state: ReplayState, request: web.Request) -> web.StreamResponse:
    """``GET /products/{pid}/candles``: ``[time_s, low, high, open, close, volume]`` newest first, <= 300."""
    symbol = _product(state, request)
    gran = int(request.query.get("granularity", 60))
    tf = _GRANULARITY_TF.get(gran)
    if tf is None:
        raise web.HTTPBadRequest(text=json.dumps({"message": "Unsupported granularity"}),
                                 content_type="application/json")
    start = _parse_time(request.query.get("start"))
    end = _parse_time(request.query.get("end"))
    rows = state.dataset.candles(symbol, tf, start, end, 300)
    return web.json_response([[ts // 1000, lo, h, o, c, v] for ts, o, h, lo, c, v in reversed(rows)])


def _parse_time(value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value) * 1000
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/time", server_time),
    Route("GET", "/products", products),
    Route("GET", "/currencies", currencies),
    Route("GET", "/products/{pid}/trades", trades),
    Route("GET", "/products/{pid}/candles", candles),
)


# -- WebSocket ------------------------------------------------------------------------------------
def parse_subscribe(msg: dict[str, Any], symbols: dict[str, str]) -> tuple[set[tuple[str, str]], str] | None:
    """``{"type": "subscribe", "product_ids": [...], "channels": ["matches"]}`` -> ({(symbol, channel)}, ack)."""
    if msg.get("type") != "subscribe":
        return None
    subs: set[tuple[str, str]] = set()
    names = [c if isinstance(c, str) else c.get("name", "") for c in msg.get("channels", [])]
    for pid in msg.get("product_ids", []):
        if pid in symbols:
            subs.update((symbols[pid], name) for name in names)
    ack = {"type": "subscriptions", "channels": [{"name": n, "product_ids": list(msg.get("product_ids", []))}
                                                 for n in names]}
    return subs, json.dumps(ack)


def trade_frames(trade: SimTrade, channels: set[str], now_ms: int) -> list[str]:
    """Frames for one trade on the subscribed channels (``matches``, ``ticker``)."""
    pid = venue_symbol(trade.symbol)
    out = []
    if "matches" in channels:
        out.append(json.dumps({"type": "match", **_match(trade), "product_id": pid, "sequence": trade.trade_id,
                               "maker_order_id": "sim", "taker_order_id": "sim"}))
    if "ticker" in channels:
        out.append(json.dumps({"type": "ticker", "sequence": trade.trade_id, "product_id": pid,
                               "price": repr(trade.price), "side": trade.side, "time": iso(trade.ts),
                               "trade_id": trade.trade_id, "last_size": repr(trade.amount)}))
    return out


def malformed_frame(trade: SimTrade) -> str:
    """A ``match`` without price and size."""
    return json.dumps({"type": "match", "trade_id": trade.trade_id, "product_id": venue_symbol(trade.symbol),
                       "time": iso(trade.ts), "side": "buy"})


def unknown_frame(trade: SimTrade) -> str:
    """A well-formed message of a type no client knows."""
    return json.dumps({"type": "sim_unknown", "product_id": venue_symbol(trade.symbol)})
