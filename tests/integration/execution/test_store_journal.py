"""The OMS journal in the embedded store: exact Decimals, latest order state wins, fills once, recovery."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.brokers.clock import ManualClock
from actors.brokers.journal import StoreJournal
from actors.brokers.models import MarketInfo, OrderRequest, OrderStatus, OrderType, Side
from actors.brokers.paper import PaperBroker, PaperConfig
from actors.oms_core import OmsConfig, OmsCore
from actors.risk_guard import RiskGuardCore, RiskLimits
from cluster.settings import load_settings
from cluster.store import open_store

pytestmark = pytest.mark.integration
T0 = 1_717_200_000_000


def test_orders_fills_positions_metrics_round_trip_and_recovery() -> None:
    ops = open_store(load_settings())
    try:
        assert ops.schema_version() >= 500
        clock = ManualClock(T0)
        market = MarketInfo("ETH/USDT", "ETH", "USDT", Decimal("0.0001"), Decimal("0.01"), Decimal("0.0001"),
                            Decimal(5))
        broker = PaperBroker(PaperConfig(commission=0.00075), clock, {"ETH/USDT": market})
        broker.on_trade("ETH/USDT", Decimal("3012.34"), Decimal(5), T0)

        def oms() -> OmsCore:
            guard = RiskGuardCore(RiskLimits(), clock)
            guard.mark("ETH/USDT", Decimal("3012.34"))
            return OmsCore(broker, guard, StoreJournal(ops.store, account="acct-a"), clock,
                           OmsConfig(account="acct-a"))

        first = oms()
        first.submit(OrderRequest("e1", "ETH/USDT", Side.BUY, OrderType.MARKET, Decimal("0.1234")))
        first.submit(OrderRequest("e2", "ETH/USDT", Side.BUY, OrderType.LIMIT, Decimal("0.5"), Decimal("2990.01")))
        clock.advance(1000)
        broker.on_trade("ETH/USDT", Decimal("2990.00"), Decimal("0.2"), clock.now_ms())  # e2 fills 0.2
        first.poll()
        journal = StoreJournal(ops.store, account="acct-a")
        orders = {o.client_order_id: o for o in journal.load_orders()}
        assert orders["e1"].status is OrderStatus.FILLED and orders["e1"].filled_qty == Decimal("0.1234")
        assert orders["e2"].status is OrderStatus.PARTIALLY_FILLED and orders["e2"].filled_qty == Decimal("0.2")
        assert orders["e2"].request.limit_price == Decimal("2990.01")
        fills = journal.load_fills()
        assert [f.qty for f in fills] == [Decimal("0.1234"), Decimal("0.2")]
        assert fills[0].fee == Decimal("0.1234") * Decimal("3012.34") * Decimal("0.00075")
        journal.save_fill(fills[0])  # a re-delivered fill is stored once
        assert len(journal.load_fills()) == 2
        assert journal.load_positions() == {"ETH/USDT": Decimal("0.3234")}
        other = StoreJournal(ops.store, account="acct-b")
        assert other.load_orders() == [] and other.load_fills() == []

        clock.advance(1000)
        broker.on_trade("ETH/USDT", Decimal("2989.00"), Decimal(1), clock.now_ms())  # e2 completes while down
        del first
        second = oms()
        assert second.report.updated_orders == ["e2"] and len(second.report.booked_fills) == 1
        assert second.positions() == {"ETH/USDT": Decimal("0.6234")}
        final = {o.client_order_id: o for o in StoreJournal(ops.store, account="acct-a").load_orders()}
        assert final["e2"].status is OrderStatus.FILLED
        rows = ops.store.query_arrow(
            f"SELECT client_order_id, status, fill_ratio FROM {ops.db}.execution_metrics FINAL "
            "WHERE account = 'acct-a' ORDER BY client_order_id").to_pylist()
        assert [(r["client_order_id"], r["status"], r["fill_ratio"]) for r in rows] == \
            [("e1", "filled", 1.0), ("e2", "filled", 1.0)]
    finally:
        ops.store.close()
