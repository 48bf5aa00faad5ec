"""The token-protected ``/v1/orders`` routes over a real OMS core, risk guard and paper broker."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from actors.brokers.clock import ManualClock
from actors.oms_core import OmsCore
from actors.risk_guard import RiskLimits
from serve.app import LocalBackend, create_api
from serve.orders import LocalOrdersBackend
from tests.unit.execution.conftest import make_oms, make_paper

TOKEN = "test-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def oms(clock: ManualClock) -> OmsCore:
    return make_oms(make_paper(clock), clock, limits=RiskLimits(max_position_notional=Decimal(50_000),
                                                               max_gross_exposure=Decimal(80_000), max_orders=1000))


@pytest.fixture
def client(oms: OmsCore) -> Iterator[TestClient]:
    app = create_api(LocalBackend(None), api_token=SecretStr(TOKEN), orders=LocalOrdersBackend(oms))
    with TestClient(app) as c:
        yield c


def order(cid: str, qty: str = "0.1", **extra: object) -> dict[str, object]:
    return {"client_order_id": cid, "symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": qty, **extra}


def test_orders_need_the_token(client: TestClient, oms: OmsCore) -> None:
    assert client.post("/v1/orders", json=order("a1")).status_code == 401
    assert client.post("/v1/orders", json=order("a1"), headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/orders").status_code == 401
    assert client.post("/v1/orders/kill", json={"reason": "x"}).status_code == 401
    assert oms.positions() == {}  # nothing reached the broker


def test_no_token_configured_disables_trading(oms: OmsCore) -> None:
    with TestClient(create_api(LocalBackend(None), api_token=None, orders=LocalOrdersBackend(oms))) as c:
        out = c.post("/v1/orders", json=order("a1"), headers=AUTH)
    assert out.status_code == 403 and "no API token" in out.json()["detail"]


def test_submit_fills_and_is_idempotent(client: TestClient, oms: OmsCore) -> None:
    first = client.post("/v1/orders", json=order("buy-1"), headers=AUTH)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["client_order_id"] == "buy-1" and body["status"] == "filled"
    assert Decimal(body["filled_qty"]) == Decimal("0.1")
    again = client.post("/v1/orders", json=order("buy-1"), headers=AUTH)
    assert again.status_code == 200 and again.json()["status"] == "filled"
    assert oms.positions()["BTC/USDT"] == Decimal("0.1")  # one order, not two


def test_risk_rejection_carries_rule_and_numbers(client: TestClient, oms: OmsCore) -> None:
    out = client.post("/v1/orders", json=order("big", qty="5"), headers=AUTH)  # 5 BTC x 60k > 50k limit
    assert out.status_code == 422
    problem = out.json()
    assert out.headers["content-type"].startswith("application/problem+json")
    assert problem["rule"] and problem["numbers"] and problem["rule"] in problem["detail"]
    assert oms.positions().get("BTC/USDT", Decimal(0)) == 0


def test_bad_requests_are_422(client: TestClient) -> None:
    assert client.post("/v1/orders", json=order("x", qty="-1"), headers=AUTH).status_code == 422
    assert client.post("/v1/orders", json={**order("x"), "symbol": "btcusdt"}, headers=AUTH).status_code == 422
    assert client.post("/v1/orders", json={**order("x"), "leverage": 5}, headers=AUTH).status_code == 422


def test_kill_switch_cancels_and_blocks_until_reset(client: TestClient, oms: OmsCore) -> None:
    resting = order("lim-1", type="limit", limit_price="58000")  # inside the 5% price band, below the market
    assert client.post("/v1/orders", json=resting, headers=AUTH).json()["status"] in ("accepted", "new")
    assert [o["client_order_id"] for o in client.get("/v1/orders", headers=AUTH).json()] == ["lim-1"]
    killed = client.post("/v1/orders/kill", json={"reason": "test"}, headers=AUTH)
    assert killed.status_code == 200
    assert [o["client_order_id"] for o in killed.json()["cancelled"]] == ["lim-1"]
    blocked = client.post("/v1/orders", json=order("after-kill"), headers=AUTH)
    assert blocked.status_code == 422 and blocked.json()["rule"] == "kill_switch"
    assert client.post("/v1/orders/kill/reset", headers=AUTH).status_code == 204
    assert client.post("/v1/orders", json=order("after-reset"), headers=AUTH).status_code == 200


def test_execution_metrics_are_exported_for_prometheus(client: TestClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    assert client.post("/v1/orders", json=order("m-1"), headers=AUTH).status_code == 200
    assert client.get("/v1/orders/metrics").status_code == 401
    out = client.get("/v1/orders/metrics", headers=AUTH)
    assert out.status_code == 200 and out.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(out.text)}
    filled = [s for s in families["coinray_orders"].samples if s.labels.get("status") == "filled"]
    assert [s.value for s in filled] == [1.0]  # the one filled order
    assert "coinray_slippage_bps" in families
