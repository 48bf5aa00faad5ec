"""Order endpoints for the exchange simulator, in Binance spot and Coinbase Exchange wire formats.

A venue-neutral :class:`SimOrderBook` keeps accounts, orders and fills; :func:`add_order_routes`
mounts the venue's private REST routes on an aiohttp app so that unmodified ccxt can trade on it.
Faults (deterministic, per order request): reject, lose the response after accepting the order
(the connection is closed: the client cannot know the outcome), drop the request before it is
processed, and fill market orders only partly (the rest fills on later trades).
Signatures are not verified, but the API key header and signature must be present.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)
ZERO = Decimal(0)


class OrderFaultConfig(BaseModel):
    """Deterministic order faults: each ``*_every`` fires on every N-th order placement (None = off)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reject_every: int | None = Field(None, ge=1, description="Reject every N-th order (insufficient balance).")
    lose_response_every: int | None = Field(None, ge=1, description="Accept, then close the connection unanswered.")
    drop_request_every: int | None = Field(None, ge=1, description="Close the connection before processing.")
    partial_fill_every: int | None = Field(None, ge=1, description="Fill only half of a market order at once.")


class SimReject(Exception):
    """An order the simulated venue refuses (``code`` is Binance's error code)."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class SimOrder:
    """One order at the simulated venue."""

    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    qty: Decimal
    price: Decimal | None
    tif: str
    ts: int
    status: str = "NEW"  # Binance names: NEW PARTIALLY_FILLED FILLED CANCELED REJECTED EXPIRED
    executed: Decimal = ZERO
    quote: Decimal = ZERO
    fee: Decimal = ZERO
    fills: list[dict[str, Any]] = field(default_factory=list)


class SimOrderBook:
    """Accounts, orders and fills of the simulated venue (one account).

    Parameters
    ----------
    last_price:
        The replay's last trade price of a symbol (None when nothing traded yet).
    balances:
        Starting balances per asset.
    fee_rate:
        Fee fraction charged in the quote asset.
    now_ms:
        Exchange time.
    """

    def __init__(self, last_price: Callable[[str], float | None], *, balances: dict[str, Decimal] | None = None,
                 fee_rate: Decimal = Decimal("0.001"), now_ms: Callable[[], int] | None = None,
                 faults: OrderFaultConfig | None = None) -> None:
        self._replay_price = last_price
        self.free: dict[str, Decimal] = dict(balances or {"USDT": Decimal(1_000_000), "BTC": Decimal(10)})
        self.locked: dict[str, Decimal] = {}
        self.fee_rate = fee_rate
        self._now = now_ms or (lambda: 0)
        self.faults = faults or OrderFaultConfig()
        self.orders: dict[int, SimOrder] = {}
        self.by_client: dict[str, int] = {}
        self.trades: list[dict[str, Any]] = []
        self._last: dict[str, Decimal] = {}
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self.placements = 0
        self.injected: dict[str, int] = {}
        self._locks: dict[int, tuple[str, Decimal]] = {}

    # -- faults -----------------------------------------------------------------------------------
    def next_fault(self) -> str | None:
        """Advance the placement counter; the fault for this placement, if any."""
        self.placements += 1
        n, c = self.placements, self.faults
        for name, every in (("drop_request", c.drop_request_every), ("reject", c.reject_every),
                            ("lose_response", c.lose_response_every), ("partial_fill", c.partial_fill_every)):
            if every is not None and n % every == 0:
                self.injected[name] = self.injected.get(name, 0) + 1
                return name
        return None

    # -- prices -----------------------------------------------------------------------------------
    def last_price(self, symbol: str) -> Decimal | None:
        """The last trade price (an injected trade, else the replay's)."""
        if symbol in self._last:
            return self._last[symbol]
        price = self._replay_price(symbol)
        return None if price is None else Decimal(str(price))

    def on_trade(self, symbol: str, price: Decimal, qty: Decimal) -> None:
        """A market trade: resting orders it crosses fill (up to ``qty`` in total)."""
        self._last[symbol] = price
        left = qty
        for order in [o for o in self.orders.values() if o.symbol == symbol and o.status in ("NEW",
                                                                                            "PARTIALLY_FILLED")]:
            if left <= 0:
                break
            if order.type == "LIMIT" and order.price is not None:
                crosses = price <= order.price if order.side == "BUY" else price >= order.price
                if not crosses:
                    continue
                fill_price = order.price
            else:
                fill_price = price
            take = min(left, order.qty - order.executed)
            self._fill(order, take, fill_price, maker=order.type == "LIMIT")
            left -= take

    # -- orders -----------------------------------------------------------------------------------
    def place(self, *, symbol: str, side: str, type_: str, qty: Decimal, price: Decimal | None, client_id: str,
              tif: str = "GTC", partial: bool = False, reject: bool = False) -> SimOrder:
        """Accept and match an order, or raise :class:`SimReject`."""
        if client_id in self.by_client:
            raise SimReject(-2010, "Duplicate order sent.")
        base, quote = symbol.split("/")
        last = self.last_price(symbol)
        if last is None:
            raise SimReject(-1013, "No market price.")
        ref = price if price is not None else last
        need_asset, need = (quote, qty * ref * (1 + self.fee_rate) * Decimal("1.05")) if side == "BUY" else (base, qty)
        if reject or self.free.get(need_asset, ZERO) < need:
            raise SimReject(-2010, "Account has insufficient balance for requested action.")
        order = SimOrder(next(self._ids), client_id, symbol, side, type_, qty, price, tif, self._now())
        self.orders[order.order_id] = order
        self.by_client[client_id] = order.order_id
        self.free[need_asset] -= need
        self.locked[need_asset] = self.locked.get(need_asset, ZERO) + need
        self._locks[order.order_id] = (need_asset, need)
        marketable = type_ == "MARKET" or (price is not None and (last <= price if side == "BUY" else last >= price))
        if marketable:
            take = order.qty / 2 if partial and type_ == "MARKET" else order.qty
            self._fill(order, take, last, maker=False)
        if order.status in ("NEW", "PARTIALLY_FILLED") and tif in ("IOC", "FOK"):
            self._close(order, "EXPIRED")
        return order

    def find(self, *, order_id: int | None = None, client_id: str | None = None) -> SimOrder | None:
        """An order by venue or client id."""
        if client_id:
            order_id = self.by_client.get(client_id)
        return self.orders.get(order_id) if order_id is not None else None

    def cancel(self, order: SimOrder) -> SimOrder:
        """Cancel an open order."""
        if order.status not in ("NEW", "PARTIALLY_FILLED"):
            raise SimReject(-2011, "Unknown order sent.")
        self._close(order, "CANCELED")
        return order

    def _fill(self, order: SimOrder, qty: Decimal, price: Decimal, *, maker: bool) -> None:
        if qty <= 0:
            return
        base, quote = order.symbol.split("/")
        notional = qty * price
        fee = notional * self.fee_rate
        asset, lock = self._locks[order.order_id]
        if order.side == "BUY":
            used = min(lock, notional + fee)
            self.locked[quote] -= used
            self._locks[order.order_id] = (asset, lock - used)
            self.free[quote] -= notional + fee - used
            self.free[base] = self.free.get(base, ZERO) + qty
        else:
            self.locked[base] -= qty
            self._locks[order.order_id] = (asset, lock - qty)
            self.free[quote] = self.free.get(quote, ZERO) + notional - fee
        order.executed += qty
        order.quote += notional
        order.fee += fee
        trade = {"id": next(self._trade_ids), "order_id": order.order_id, "client_id": order.client_id,
                 "symbol": order.symbol, "side": order.side, "price": price, "qty": qty, "fee": fee,
                 "fee_asset": quote, "ts": self._now(), "maker": maker}
        order.fills.append(trade)
        self.trades.append(trade)
        if order.executed >= order.qty:
            self._close(order, "FILLED")
        else:
            order.status = "PARTIALLY_FILLED"

    def _close(self, order: SimOrder, status: str) -> None:
        order.status = status
        asset, lock = self._locks.pop(order.order_id, ("", ZERO))
        if asset and lock:
            self.locked[asset] -= lock
            self.free[asset] += lock


# -- Binance spot formats -------------------------------------------------------------------------------
def _s(d: Decimal | None) -> str:
    return "0.00000000" if d is None else f"{d:f}"


def _binance_order(o: SimOrder, *, full: bool = False) -> dict[str, Any]:
    out = {"symbol": o.symbol.replace("/", ""), "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_id,
           "transactTime": o.ts, "time": o.ts, "updateTime": o.ts, "price": _s(o.price), "origQty": _s(o.qty),
           "executedQty": _s(o.executed), "cummulativeQuoteQty": _s(o.quote), "status": o.status,
           "timeInForce": o.tif, "type": o.type, "side": o.side, "isWorking": True,
           "workingTime": o.ts, "selfTradePreventionMode": "NONE"}
    if full:
        out["fills"] = [{"price": _s(t["price"]), "qty": _s(t["qty"]), "commission": _s(t["fee"]),
                         "commissionAsset": t["fee_asset"], "tradeId": t["id"]} for t in o.fills]
    return out


def _binance_error(code: int, msg: str, status: int = 400) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _require_signed(request: web.Request, params: dict[str, str]) -> web.Response | None:
    if not request.headers.get("X-MBX-APIKEY"):
        return _binance_error(-2014, "API-key format invalid.", 401)
    if "signature" not in params or "timestamp" not in params:
        return _binance_error(-1102, "Mandatory parameter 'signature' was not sent.")
    return None


async def _params(request: web.Request) -> dict[str, str]:
    params = dict(request.query)
    if request.method in ("POST", "PUT", "DELETE") and request.can_read_body:
        params.update({k: str(v) for k, v in (await request.post()).items()})
    return params


def _binance_symbols(book: SimOrderBook, symbols: list[str]) -> dict[str, str]:
    return {s.replace("/", ""): s for s in symbols}


def _lose_response(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.close()
    raise ConnectionResetError("simulated: response lost")


def binance_routes(book: SimOrderBook, symbols: Callable[[], list[str]]) -> list[tuple[str, str, Any]]:
    """(method, path, handler) of Binance's spot order routes."""

    async def handle(request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        denied = _require_signed(request, params)
        if denied is not None:
            return denied
        table = _binance_symbols(book, symbols())
        symbol = table.get(params.get("symbol", ""))
        path = request.path
        if path.endswith("/account"):
            assets = sorted(book.free.keys() | book.locked.keys())
            return web.json_response({"makerCommission": 10, "takerCommission": 10, "canTrade": True,
                                      "accountType": "SPOT", "updateTime": book._now(), "permissions": ["SPOT"],
                                      "balances": [{"asset": a, "free": _s(book.free.get(a, ZERO)),
                                                    "locked": _s(book.locked.get(a, ZERO))} for a in assets]})
        if path.endswith("/openOrders"):
            return web.json_response([_binance_order(o) for o in book.orders.values()
                                      if o.status in ("NEW", "PARTIALLY_FILLED") and (symbol is None or
                                                                                     o.symbol == symbol)])
        if symbol is None:
            return _binance_error(-1121, "Invalid symbol.")
        if path.endswith("/myTrades"):
            since = int(params.get("startTime", 0))
            rows = [t for t in book.trades if t["symbol"] == symbol and t["ts"] >= since]
            return web.json_response([{"symbol": params["symbol"], "id": t["id"], "orderId": t["order_id"],
                                       "orderListId": -1, "price": _s(t["price"]), "qty": _s(t["qty"]),
                                       "quoteQty": _s(t["price"] * t["qty"]), "commission": _s(t["fee"]),
                                       "commissionAsset": t["fee_asset"], "time": t["ts"],
                                       "isBuyer": t["side"] == "BUY", "isMaker": t["maker"], "isBestMatch": True}
                                      for t in rows])
        if request.method == "POST":
            fault = book.next_fault()
            if fault == "drop_request":
                return _lose_response(request)
            try:
                order = book.place(symbol=symbol, side=params.get("side", ""), type_=params.get("type", ""),
                                   qty=Decimal(params.get("quantity", "0")),
                                   price=Decimal(params["price"]) if "price" in params else None,
                                   client_id=params.get("newClientOrderId", f"sim{book.placements}"),
                                   tif=params.get("timeInForce", "GTC"), partial=fault == "partial_fill",
                                   reject=fault == "reject")
            except SimReject as exc:
                return _binance_error(exc.code, str(exc), exc.status)
            if fault == "lose_response":
                return _lose_response(request)
            return web.json_response(_binance_order(order, full=True))
        oid = params.get("orderId")
        found = book.find(order_id=int(oid) if oid else None, client_id=params.get("origClientOrderId"))
        if found is None or found.symbol != symbol:
            return _binance_error(-2013 if request.method == "GET" else -2011,
                                  "Order does not exist." if request.method == "GET" else "Unknown order sent.")
        if request.method == "DELETE":
            try:
                book.cancel(found)
            except SimReject as exc:
                return _binance_error(exc.code, str(exc))
        return web.json_response(_binance_order(found))

    return [("POST", "/api/v3/order", handle), ("GET", "/api/v3/order", handle), ("DELETE", "/api/v3/order", handle),
            ("GET", "/api/v3/openOrders", handle), ("GET", "/api/v3/myTrades", handle),
            ("GET", "/api/v3/account", handle)]


# -- Coinbase Exchange formats --------------------------------------------------------------------------
def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_CB_STATUS = {"NEW": ("open", None), "PARTIALLY_FILLED": ("open", None), "FILLED": ("done", "filled"),
              "CANCELED": ("done", "canceled"), "EXPIRED": ("done", "canceled"), "REJECTED": ("rejected", None)}


def _cb_order(o: SimOrder) -> dict[str, Any]:
    status, reason = _CB_STATUS[o.status]
    out = {"id": f"sim-{o.order_id:08d}", "client_oid": o.client_id, "product_id": o.symbol.replace("/", "-"),
           "side": o.side.lower(), "type": o.type.lower(), "size": _s(o.qty), "time_in_force": o.tif,
           "post_only": False, "created_at": _iso(o.ts), "fill_fees": _s(o.fee), "filled_size": _s(o.executed),
           "executed_value": _s(o.quote), "status": status, "settled": status == "done", "stp": "dc"}
    if o.price is not None:
        out["price"] = _s(o.price)
    if reason:
        out["done_reason"] = reason
        out["done_at"] = _iso(o.ts)
    return out


def coinbase_routes(book: SimOrderBook, symbols: Callable[[], list[str]]) -> list[tuple[str, str, Any]]:
    """(method, path, handler) of Coinbase Exchange's order routes."""

    def denied(request: web.Request) -> web.Response | None:
        if not all(request.headers.get(h) for h in ("CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-TIMESTAMP")):
            return web.json_response({"message": "invalid signature"}, status=401)
        return None

    def lookup(request: web.Request) -> SimOrder | None:
        ref = request.match_info["ref"]
        if ref.startswith("client:"):
            return book.find(client_id=ref.removeprefix("client:"))
        try:
            return book.find(order_id=int(ref.removeprefix("sim-")))
        except ValueError:
            return None

    async def create(request: web.Request) -> web.StreamResponse:
        if (bad := denied(request)) is not None:
            return bad
        body = await request.json()
        table = {s.replace("/", "-"): s for s in symbols()}
        symbol = table.get(body.get("product_id", ""))
        if symbol is None:
            return web.json_response({"message": "Product not found"}, status=400)
        fault = book.next_fault()
        if fault == "drop_request":
            return _lose_response(request)
        try:
            order = book.place(symbol=symbol, side=str(body.get("side", "")).upper(),
                               type_=str(body.get("type", "limit")).upper(), qty=Decimal(str(body.get("size", "0"))),
                               price=Decimal(str(body["price"])) if body.get("price") else None,
                               client_id=str(body.get("client_oid") or f"sim{book.placements}"),
                               tif=str(body.get("time_in_force", "GTC")), partial=fault == "partial_fill",
                               reject=fault == "reject")
        except SimReject as exc:
            msg = "duplicate client_oid" if exc.code == -2010 and "Duplicate" in str(exc) else \
                "Insufficient funds" if "insufficient" in str(exc) else str(exc)
            return web.json_response({"message": msg}, status=400)
        if fault == "lose_response":
            return _lose_response(request)
        return web.json_response(_cb_order(order))

    async def get_one(request: web.Request) -> web.StreamResponse:
        if (bad := denied(request)) is not None:
            return bad
        order = lookup(request)
        if order is None:
            return web.json_response({"message": "NotFound"}, status=404)
        return web.json_response(_cb_order(order))

    async def delete_one(request: web.Request) -> web.StreamResponse:
        if (bad := denied(request)) is not None:
            return bad
        order = lookup(request)
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
            return web.json_response({"message": "NotFound"}, status=404)
        book.cancel(order)
        return web.json_response(f"sim-{order.order_id:08d}")

    async def list_open(request: web.Request) -> web.StreamResponse:
        if (bad := denied(request)) is not None:
            return bad
        pid = request.query.get("product_id")
        return web.json_response([_cb_order(o) for o in book.orders.values()
                                  if o.status in ("NEW", "PARTIALLY_FILLED")
                                  and (pid is None or o.symbol.replace("/", "-") == pid)])

    async def fills(request: web.Request) -> web.StreamResponse:
        if (bad := denied(request)) is not None:
            return bad
        pid = request.query.get("product_id")
        rows = [t for t in book.trades if pid is None or t["symbol"].replace("/", "-") == pid]
        return web.json_response([{"trade_id": t["id"], "product_id": t["symbol"].replace("/", "-"),
                                   "order_id": f"sim-{t['order_id']:08d}", "created_at": _iso(t["ts"]),
                                   "liquidity": "M" if t["maker"] else "T", "price": _s(t["price"]),
                                   "size": _s(t["qty"]), "fee": _s(t["fee"]), "side": t["side"].lower(),
                                   "settled": True, "usd_volume": _s(t["price"] * t["qty"])}
                                  for t in reversed(rows)])

    async def accounts(request: web.Request) -> web.StreamResponse:
        if (bad := denied(request)) is not None:
            return bad
        assets = sorted(book.free.keys() | book.locked.keys())
        return web.json_response([{"id": f"acct-{a}", "currency": a, "profile_id": "sim",
                                   "trading_enabled": True,
                                   "balance": _s(book.free.get(a, ZERO) + book.locked.get(a, ZERO)),
                                   "available": _s(book.free.get(a, ZERO)), "hold": _s(book.locked.get(a, ZERO))}
                                  for a in assets])

    return [("POST", "/orders", create), ("GET", "/orders", list_open), ("GET", "/orders/{ref}", get_one),
            ("DELETE", "/orders/{ref}", delete_one), ("GET", "/fills", fills), ("GET", "/accounts", accounts)]


def add_order_routes(app: web.Application, book: SimOrderBook, *, exchange: str,
                     symbols: Callable[[], list[str]]) -> None:
    """Mount the venue's order routes plus ``POST /_sim/orders/trade`` and ``/_sim/orders/faults`` on ``app``.

    Parameters
    ----------
    app:
        The simulator's aiohttp application (before it starts).
    book:
        The order book; the replay should call ``book.on_trade`` for every replayed trade.
    exchange:
        ``binance`` or ``coinbase``.
    symbols:
        The unified symbols the simulator serves.
    """
    routes = binance_routes(book, symbols) if exchange == "binance" else coinbase_routes(book, symbols)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)

    async def trade(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        book.on_trade(body["symbol"], Decimal(str(body["price"])), Decimal(str(body["qty"])))
        return web.json_response({"ok": True})

    async def faults(request: web.Request) -> web.StreamResponse:
        book.faults = OrderFaultConfig.model_validate(await request.json())
        return web.json_response({"faults": book.faults.model_dump(), "injected": book.injected})

    async def stats(request: web.Request) -> web.StreamResponse:
        return web.json_response({"orders": len(book.orders), "trades": len(book.trades), "injected": book.injected,
                                  "placements": book.placements}, dumps=lambda o: json.dumps(o, default=str))

    app.router.add_post("/_sim/orders/trade", trade)
    app.router.add_post("/_sim/orders/faults", faults)
    app.router.add_get("/_sim/orders/stats", stats)


def build_order_sim_app(exchange: str, dataset: Any, book: SimOrderBook) -> web.Application:
    """A bare simulator app: the venue's public REST routes over ``dataset`` plus the order routes.

    For tests and benchmarks that need no replay task or WebSocket (``ExchangeSimulator`` serves
    the full venue).
    """

    from cluster.sim import binance, coinbase
    from cluster.sim.faults import FaultInjector
    from cluster.sim.state import ReplayState

    venue = binance if exchange == "binance" else coinbase
    state = ReplayState(dataset, FaultInjector())
    app = web.Application()

    def bind(handler: Any) -> Any:
        async def route(request: web.Request) -> web.StreamResponse:
            return await handler(state, request)  # type: ignore[no-any-return]
        return route

    for route in venue.ROUTES:
        app.router.add_route(route.method, route.path, bind(route.handler))
    add_order_routes(app, book, exchange=exchange, symbols=dataset.symbols)
    return app


class ThreadedServer:
    """Serve an aiohttp app on 127.0.0.1 from a background thread (for synchronous clients such as ccxt)."""

    def __init__(self, app: web.Application) -> None:
        import asyncio
        import threading

        self._app = app
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sim-orders")
        self.port = 0

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self._app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("simulator thread did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port``."""
        return f"http://127.0.0.1:{self.port}"
