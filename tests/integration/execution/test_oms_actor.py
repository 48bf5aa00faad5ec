"""The ``OrderManager`` Ray actor: killed mid-order, Ray restarts it, and recovery (store journal + venue) is exact."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from actors.brokers.ccxt_broker import CcxtBrokerConfig
from actors.brokers.errors import RiskRejected
from actors.brokers.factory import BrokerConfig
from actors.brokers.models import OrderRequest, OrderStatus, OrderType, Side
from actors.oms_core import OmsConfig
from actors.risk_guard import RiskLimits
from cluster.settings import load_settings
from cluster.sim.dataset import build_dataset
from cluster.sim.orders import SimOrderBook
from tests.integration.execution.simhelpers import SimServer, last_kline_close

pytestmark = pytest.mark.integration


def _pid(handle: Any) -> int:
    import os

    import ray

    return int(ray.get(handle.__ray_call__.remote(lambda self: os.getpid()), timeout=60))


def _when_back(handle: Any, old_pid: int) -> dict[str, Any]:
    """The restarted actor's reconciliation report, once a new process answers (readiness, no sleeping)."""
    import time

    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError

    deadline = time.monotonic() + 120
    while True:
        try:
            if _pid(handle) != old_pid:
                return ray.get(handle.report.remote(), timeout=60)  # type: ignore[no-any-return]
        except (ActorUnavailableError, ActorDiedError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the OMS actor did not come back")


def test_actor_restart_mid_order_recovers_without_duplicates(ray_local: None) -> None:
    import ray

    from actors.oms import OrderManager, OrderManagerConfig

    dataset = build_dataset("binance")
    book = SimOrderBook(last_kline_close(dataset), balances={"USDT": Decimal(1_000_000)}, now_ms=lambda: 1)
    with SimServer("binance", dataset, book) as sim:
        ccxt_cfg = CcxtBrokerConfig(exchange="binance", api_key=SecretStr("sim-key-123456"),
                                    api_secret=SecretStr("sim-secret-123456"), rest_url=sim.url,
                                    symbols=("BTC/USDT",))
        cfg = OrderManagerConfig(oms=OmsConfig(account="ray-sim"), broker=BrokerConfig(kind="binance", ccxt=ccxt_cfg),
                                 limits=RiskLimits(max_position_notional=Decimal(500_000),
                                                   max_gross_exposure=Decimal(500_000)),
                                 journal="store", log_level="WARNING")
        oms = OrderManager.remote(cfg, load_settings())
        price = book.last_price("BTC/USDT")
        assert price is not None
        ray.get(oms.on_price.remote("BTC/USDT", price))
        filled = ray.get(oms.submit.remote(OrderRequest("cra1", "BTC/USDT", Side.BUY, OrderType.MARKET, Decimal(1))))
        assert filled.status is OrderStatus.FILLED
        limit = (price * Decimal("0.99")).quantize(Decimal("0.01"))
        resting = ray.get(oms.submit.remote(OrderRequest("cra2", "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal(2),
                                                         limit)))
        assert resting.status is OrderStatus.ACCEPTED
        with pytest.raises(RiskRejected) as info:  # typed errors cross the Ray boundary with their numbers
            ray.get(oms.submit.remote(OrderRequest("cra3", "BTC/USDT", Side.BUY, OrderType.MARKET, Decimal(100))))
        assert info.value.rule == "max_position" and "limit" in info.value.numbers

        old_pid = _pid(oms)
        sim.trade("BTC/USDT", str(limit), "5")  # the resting order fills at the venue, unseen by the OMS...
        ray.kill(oms, no_restart=False)  # ...which then crashes mid-order
        report = _when_back(oms, old_pid)  # the restarted actor recovered in __init__
        assert report["updated_orders"] == ["cra2"] and len(report["booked_fills"]) == 1, report
        assert report["missing_orders"] == [] and report["adopted_orders"] == []
        assert ray.get(oms.positions.remote()) == {"BTC/USDT": Decimal(3)}
        assert ray.get(oms.open_orders.remote()) == []
        assert sorted(o.client_id for o in book.orders.values()) == ["cra1", "cra2"]
        text = ray.get(oms.metrics_text.remote())
        assert 'coinray_orders_total{account="ray-sim",venue="binance",status="filled"} 2' in text
        assert 'coinray_order_rejects_total{account="ray-sim",rule="max_position"} 1' in text
