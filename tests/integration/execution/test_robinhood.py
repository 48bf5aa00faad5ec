"""Robinhood client against a local server that verifies the Ed25519 request signatures with a test key pair."""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pydantic import SecretStr

from actors.brokers.clock import ManualClock
from actors.brokers.errors import BrokerError
from actors.brokers.journal import MemoryJournal
from actors.brokers.models import OrderRequest, OrderStatus, OrderType, Side
from actors.brokers.robinhood import RobinhoodBroker, RobinhoodClient, RobinhoodConfig, venue_uuid
from actors.oms_core import OmsConfig, OmsCore
from actors.risk_guard import RiskGuardCore, RiskLimits
from tests.integration.execution.simhelpers import AppServer

pytestmark = pytest.mark.integration
T0 = 1_725_600_000_000
API_KEY = "rh-api-key-test-0001"
PRICE = Decimal("56123.45")


class FakeRobinhood:
    """Checks ``x-api-key``/``x-timestamp``/``x-signature`` exactly as Robinhood documents, then serves orders."""

    def __init__(self, public_key: Ed25519PublicKey, now_s: int) -> None:
        self.public_key = public_key
        self.now_s = now_s
        self.orders: dict[str, dict[str, Any]] = {}
        self.verified = 0
        self.lose_next_response = False
        self._ids = itertools.count(1)

    async def _verify(self, request: web.Request) -> web.Response | None:
        body = await request.text()
        ts = request.headers.get("x-timestamp", "")
        if request.headers.get("x-api-key") != API_KEY or not ts.isdigit() or abs(int(ts) - self.now_s) > 30:
            return web.json_response({"errors": [{"detail": "bad key or timestamp"}]}, status=401)
        message = f"{API_KEY}{ts}{request.path_qs}{request.method}{body}".encode()
        try:
            self.public_key.verify(base64.b64decode(request.headers.get("x-signature", "")), message)
        except (InvalidSignature, ValueError):
            return web.json_response({"errors": [{"detail": "invalid signature"}]}, status=401)
        self.verified += 1
        return None

    def app(self) -> web.Application:
        app = web.Application()

        async def handler(request: web.Request) -> web.StreamResponse:
            if (bad := await self._verify(request)) is not None:
                return bad
            return await self._route(request)

        app.router.add_route("*", "/{tail:.*}", handler)
        return app

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path, q = request.path, request.query
        if path == "/api/v1/crypto/trading/accounts/":
            spent = sum(Decimal(o["filled_asset_quantity"]) * PRICE * (1 if o["side"] == "buy" else -1)
                        for o in self.orders.values())
            return web.json_response({"account_number": "RH1", "status": "active",
                                      "buying_power": str(Decimal(100_000) - spent), "buying_power_currency": "USD"})
        if path == "/api/v1/crypto/trading/holdings/":
            qty = sum(Decimal(o["filled_asset_quantity"]) * (1 if o["side"] == "buy" else -1)
                      for o in self.orders.values())
            return web.json_response({"next": None, "previous": None, "results": [
                {"account_number": "RH1", "asset_code": "BTC", "total_quantity": str(qty),
                 "quantity_available_for_trading": str(qty)}]})
        if path == "/api/v1/crypto/trading/trading_pairs/":
            return web.json_response({"next": None, "results": [
                {"asset_code": "BTC", "quote_code": "USD", "quote_increment": "0.01", "asset_increment": "0.00000001",
                 "max_order_size": "20", "min_order_size": "0.000001", "status": "tradable", "symbol": "BTC-USD"}]})
        if path == "/api/v1/crypto/marketdata/best_bid_ask/":
            return web.json_response({"results": [{"symbol": "BTC-USD", "price": str(PRICE)}]})
        if path == "/api/v1/crypto/trading/orders/" and request.method == "POST":
            body = json.loads(await request.text())
            uuid.UUID(body["client_order_id"])  # must be a UUID
            if any(o["client_order_id"] == body["client_order_id"] for o in self.orders.values()):
                return web.json_response({"errors": [{"attr": "client_order_id",
                                                      "detail": "client_order_id already exists"}]}, status=400)
            oid = f"rh-{next(self._ids)}"
            market = body["type"] == "market"
            qty = (body.get("market_order_config") or body["limit_order_config"])["asset_quantity"]
            order = {"id": oid, "account_number": "RH1", "symbol": body["symbol"],
                     "client_order_id": body["client_order_id"], "side": body["side"], "type": body["type"],
                     "state": "filled" if market else "open", "average_price": str(PRICE) if market else None,
                     "filled_asset_quantity": qty if market else "0", "created_at": "2024-09-06T05:20:00Z",
                     "updated_at": "2024-09-06T05:20:00Z",
                     "executions": [{"effective_price": str(PRICE), "quantity": qty,
                                     "timestamp": "2024-09-06T05:20:00Z"}] if market else [],
                     **{k: v for k, v in body.items() if k.endswith("_config")}}
            self.orders[oid] = order
            if self.lose_next_response:
                self.lose_next_response = False
                request.transport.close()  # type: ignore[union-attr]
                raise ConnectionResetError("response lost")
            return web.json_response(order, status=201)
        if path == "/api/v1/crypto/trading/orders/":
            rows = [o for o in self.orders.values() if ("symbol" not in q or o["symbol"] == q["symbol"])
                    and ("state" not in q or o["state"] == q["state"])]
            return web.json_response({"next": None, "previous": None, "results": rows})
        parts = path.strip("/").split("/")
        if len(parts) >= 6 and parts[4] == "orders" and parts[5] in self.orders:
            order = self.orders[parts[5]]
            if parts[-1] == "cancel" and request.method == "POST":
                order["state"] = "canceled"
                return web.Response(text=f"Cancel request was submitted for order {order['id']}")
            return web.json_response(order)
        return web.json_response({"errors": [{"detail": "not found"}]}, status=404)


@pytest.fixture
def keypair() -> tuple[str, Ed25519PublicKey]:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(seed).decode(), key.public_key()


@pytest.fixture
def server(keypair: tuple[str, Ed25519PublicKey]) -> Iterator[tuple[FakeRobinhood, AppServer]]:
    fake = FakeRobinhood(keypair[1], T0 // 1000)
    with AppServer(fake.app()) as srv:
        yield fake, srv


def _broker(url: str, seed_b64: str) -> RobinhoodBroker:
    cfg = RobinhoodConfig(api_key=SecretStr(API_KEY), private_key_b64=SecretStr(seed_b64), base_url=url,
                          timeout_s=5)
    return RobinhoodBroker(cfg, clock=ManualClock(T0))


def test_signature_matches_the_documented_scheme(keypair: tuple[str, Ed25519PublicKey]) -> None:
    seed, public = keypair
    client = RobinhoodClient(RobinhoodConfig(api_key=SecretStr(API_KEY), private_key_b64=SecretStr(seed)),
                             ManualClock(T0))
    body = '{"a":1}'
    headers = client.sign("post", "/api/v1/crypto/trading/orders/", body, 1_725_600_000)
    public.verify(base64.b64decode(headers["x-signature"]),
                  f"{API_KEY}1725600000/api/v1/crypto/trading/orders/POST{body}".encode())
    assert headers["x-api-key"] == API_KEY and headers["x-timestamp"] == "1725600000"
    assert seed not in repr(client) and API_KEY not in repr(client)
    pub_raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert len(pub_raw) == 32


def test_orders_round_trip_through_oms(server: tuple[FakeRobinhood, AppServer],
                                       keypair: tuple[str, Ed25519PublicKey]) -> None:
    fake, srv = server
    broker = _broker(srv.url, keypair[0])
    assert broker.market("BTC/USD").lot_size == Decimal("0.00000001")
    clock = ManualClock(T0)
    guard = RiskGuardCore(RiskLimits(max_orders=100), clock)
    guard.mark("BTC/USD", broker.last_price("BTC/USD"))
    oms = OmsCore(broker, guard, MemoryJournal(), clock, OmsConfig(account="rh", submit_attempts=3))
    filled = oms.submit(OrderRequest("crrh1", "BTC/USD", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    assert filled.status is OrderStatus.FILLED and filled.avg_price == PRICE
    fake.lose_next_response = True  # accepted, answer lost: the OMS finds it by client id, no second order
    lost = oms.submit(OrderRequest("crrh2", "BTC/USD", Side.BUY, OrderType.MARKET, Decimal("0.02")))
    assert lost.status is OrderStatus.FILLED
    assert [o["client_order_id"] for o in fake.orders.values()] == [venue_uuid("crrh1"), venue_uuid("crrh2")]
    resting = oms.submit(OrderRequest("crrh3", "BTC/USD", Side.BUY, OrderType.LIMIT, Decimal("0.01"),
                                      Decimal("56000.00")))
    assert resting.status is OrderStatus.ACCEPTED
    assert oms.cancel("BTC/USD", "crrh3").status is OrderStatus.CANCELLED
    oms.poll()
    assert oms.positions() == {"BTC/USD": Decimal("0.03")} == {s: p.qty for s, p in broker.positions().items()}
    assert fake.verified >= 8


def test_wrong_key_is_refused(server: tuple[FakeRobinhood, AppServer]) -> None:
    _, srv = server
    other = base64.b64encode(Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()
    with pytest.raises(BrokerError, match="401"):
        _broker(srv.url, other).balances()
