"""OMS: idempotent submission through timeouts, fills and positions, kill switch, emulated stops, recovery."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from actors.brokers.clock import ManualClock
from actors.brokers.errors import BrokerTimeout, OrderRejected, RiskRejected
from actors.brokers.journal import MemoryJournal
from actors.brokers.models import MarketInfo, Order, OrderRequest, OrderStatus, OrderType, Side
from actors.brokers.paper import PaperBroker
from actors.oms_core import EMULATED
from actors.risk_guard import RiskLimits
from cluster.errors import RetriesExhausted
from tests.unit.execution.conftest import make_oms, make_paper


class FlakyBroker:
    """Wraps a broker: the next ``accept_then_timeout`` submissions reach the venue but the answer is lost;
    the next ``timeout_before`` never reach it; the next ``lookup_timeouts`` lookups fail."""

    def __init__(self, inner: PaperBroker) -> None:
        self.inner = inner
        self.name = inner.name
        self.accept_then_timeout = 0
        self.timeout_before = 0
        self.lookup_timeouts = 0
        self.venue_submits = 0

    def submit(self, request: OrderRequest) -> Order:
        if self.timeout_before:
            self.timeout_before -= 1
            raise BrokerTimeout("lost before the venue")
        self.venue_submits += 1
        order = self.inner.submit(request)
        if self.accept_then_timeout:
            self.accept_then_timeout -= 1
            raise BrokerTimeout("accepted, answer lost")
        return order

    def fetch_order(self, symbol: str, **ids: Any) -> Order | None:
        if self.lookup_timeouts:
            self.lookup_timeouts -= 1
            raise BrokerTimeout("lookup lost")
        return self.inner.fetch_order(symbol, **ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _mkt(cid: str, side: Side, qty: str, symbol: str = "BTC/USDT") -> OrderRequest:
    return OrderRequest(cid, symbol, side, OrderType.MARKET, Decimal(qty))


def _lim(cid: str, side: Side, qty: str, limit: str) -> OrderRequest:
    return OrderRequest(cid, "BTC/USDT", side, OrderType.LIMIT, Decimal(qty), Decimal(limit))


def test_market_order_fills_and_is_journalled(clock: ManualClock) -> None:
    journal = MemoryJournal()
    oms = make_oms(make_paper(clock), clock, journal)
    order = oms.submit(_mkt("m1", Side.BUY, "0.1"))
    assert order.status is OrderStatus.FILLED
    assert oms.positions() == {"BTC/USDT": Decimal("0.1")}
    assert journal.orders["m1"].status is OrderStatus.FILLED and len(journal.fills) == 1
    (row,) = oms.metrics_rows()
    assert row["fill_ratio"] == 1.0 and row["arrival_price"] == 60000.0 and row["slippage_bps"] == 0.0
    assert journal.metrics["m1"]["status"] == "filled"


def test_resubmitting_the_same_client_id_is_a_no_op(clock: ManualClock) -> None:
    broker = make_paper(clock)
    oms = make_oms(broker, clock)
    first = oms.submit(_lim("l1", Side.BUY, "0.1", "59500"))
    again = oms.submit(_lim("l1", Side.BUY, "0.1", "59500"))
    assert again == first and oms.submit_calls == 1 and len(broker.open_orders()) == 1


@pytest.mark.parametrize(("after", "before", "lookups"), [(1, 0, 0), (2, 0, 0), (0, 2, 0), (1, 0, 1), (1, 1, 1)])
def test_timeouts_never_create_a_second_order(clock: ManualClock, after: int, before: int, lookups: int) -> None:
    broker = FlakyBroker(make_paper(clock))
    oms = make_oms(broker, clock)
    oms.cfg = oms.cfg.model_copy(update={"submit_attempts": 5})
    broker.accept_then_timeout, broker.timeout_before, broker.lookup_timeouts = after, before, lookups
    order = oms.submit(_mkt("t1", Side.BUY, "0.2"))
    assert order.status is OrderStatus.FILLED
    assert broker.venue_submits == 1  # reached the venue exactly once
    assert len(broker.inner.fills()) == 1 and oms.positions()["BTC/USDT"] == Decimal("0.2")


def test_outcome_unknown_is_resolved_by_recovery(clock: ManualClock) -> None:
    inner = make_paper(clock)
    broker = FlakyBroker(inner)
    journal = MemoryJournal()
    oms = make_oms(broker, clock, journal)
    broker.accept_then_timeout, broker.lookup_timeouts = 1, 10
    with pytest.raises(RetriesExhausted):
        oms.submit(_lim("u1", Side.BUY, "0.1", "59900"))
    assert journal.orders["u1"].status is OrderStatus.NEW  # write-ahead, outcome unknown
    inner.on_trade("BTC/USDT", Decimal(59800), Decimal(1), clock.now_ms() + 10)  # fills while we are down
    restarted = make_oms(inner, clock, journal)  # crash-only: __init__ reconciles
    assert restarted.report.updated_orders == ["u1"] and restarted.report.booked_fills
    assert restarted.orders["u1"].status is OrderStatus.FILLED
    assert restarted.positions() == {"BTC/USDT": Decimal("0.1")} and len(inner.fills()) == 1
    assert restarted.report.position_diffs == {}


def test_restart_mid_order_restores_true_state_without_duplicates(clock: ManualClock) -> None:
    broker = make_paper(clock)
    journal = MemoryJournal()
    oms = make_oms(broker, clock, journal)
    oms.submit(_mkt("a", Side.BUY, "0.3"))
    oms.submit(_lim("b", Side.SELL, "0.2", "60500"))
    broker.on_trade("BTC/USDT", Decimal(60600), Decimal("0.05"), clock.now_ms() + 1)  # b partially fills
    journal.orders["ghost"] = Order(_mkt("ghost", Side.BUY, "0.01"), OrderStatus.NEW)  # crashed before sending
    broker.submit(_lim("manual", Side.BUY, "0.01", "59000"))  # placed at the venue by hand
    del oms
    again = make_oms(broker, clock, journal)
    rep = again.report
    assert rep.updated_orders == ["b"] and rep.missing_orders == ["ghost"] and rep.adopted_orders == ["manual"]
    assert again.orders["b"].status is OrderStatus.PARTIALLY_FILLED and again.orders["b"].filled_qty == Decimal("0.05")
    assert again.orders["ghost"].status is OrderStatus.REJECTED and again.orders["ghost"].reason == "not_at_venue"
    assert again.positions() == {"BTC/USDT": Decimal("0.25")} == {s: p.qty for s, p in broker.positions().items()}
    broker.on_trade("BTC/USDT", Decimal(60600), Decimal(1), clock.now_ms() + 2)
    assert len(again.poll()) == 1 and again.orders["b"].status is OrderStatus.FILLED
    third = make_oms(broker, clock, journal)
    assert third.report.clean and third.positions() == {"BTC/USDT": Decimal("0.1")}
    assert len(broker.fills()) == len(journal.fills) == 3


def test_rejections_by_guard_and_venue_are_recorded(clock: ManualClock) -> None:
    journal = MemoryJournal()
    oms = make_oms(make_paper(clock, cash=Decimal(1000)), clock, journal)
    with pytest.raises(RiskRejected) as info:
        oms.submit(_mkt("big", Side.BUY, "5"))
    assert info.value.rule == "max_position"
    assert journal.orders["big"].status is OrderStatus.REJECTED and journal.orders["big"].reason == "risk:max_position"
    with pytest.raises(OrderRejected, match="insufficient"):
        oms.submit(_mkt("poor", Side.BUY, "0.1"))
    rows = {r["client_order_id"]: r for r in oms.metrics_rows()}
    assert rows["big"]["reject_rule"] == "max_position" and rows["poor"]["reject_rule"] == "venue"
    oms.submit(_mkt("ok", Side.BUY, "0.01"))  # the failed orders released their reservations


def test_kill_switch_cancels_all_and_blocks(clock: ManualClock) -> None:
    limits = RiskLimits(max_position_notional=Decimal(50_000), max_gross_exposure=Decimal(80_000),
                        max_daily_loss=Decimal(300), max_orders=100)
    broker = make_paper(clock)
    oms = make_oms(broker, clock, limits=limits)
    oms.submit(_mkt("m", Side.BUY, "0.1"))
    oms.submit(_lim("rest", Side.BUY, "0.05", "58000"))
    broker.on_trade("BTC/USDT", Decimal(56900), Decimal("0.001"), clock.now_ms() + 1)
    oms.on_price("BTC/USDT", Decimal(56900))  # 0.1 x -3,100 = -310 (+ fees)
    assert oms.guard.killed and oms.orders["rest"].status is OrderStatus.CANCELLED
    assert broker.open_orders() == []
    with pytest.raises(RiskRejected, match="kill_switch"):
        oms.submit(_mkt("after", Side.SELL, "0.1"))
    oms.reset_kill_switch()
    assert oms.submit(_mkt("after2", Side.SELL, "0.1")).status is OrderStatus.FILLED


def test_manual_kill_and_amend(clock: ManualClock) -> None:
    broker = make_paper(clock)
    oms = make_oms(broker, clock)
    oms.submit(_lim("x", Side.BUY, "0.1", "59000"))
    new = oms.amend("BTC/USDT", "x", limit_price=Decimal(59100))
    assert oms.orders["x"].status is OrderStatus.CANCELLED and new.request.limit_price == Decimal(59100)
    cancelled = oms.kill("operator")
    assert [o.client_order_id for o in cancelled] == [new.client_order_id]
    assert oms.orders[new.client_order_id].status is OrderStatus.CANCELLED


def test_emulated_stop_for_venues_without_stops(clock: ManualClock) -> None:
    no_stops = {"BTC/USDT": MarketInfo("BTC/USDT", "BTC", "USDT", Decimal("0.00001"), Decimal("0.01"),
                                       Decimal("0.00001"), Decimal(5), supports_stops=False)}
    broker = PaperBroker(make_paper(clock).cfg, clock, no_stops)
    broker.on_trade("BTC/USDT", Decimal(60000), Decimal(1), clock.now_ms())
    journal = MemoryJournal()
    oms = make_oms(broker, clock, journal)
    oms.submit(_mkt("pos", Side.BUY, "0.2"))
    stop = oms.submit(OrderRequest("sl", "BTC/USDT", Side.SELL, OrderType.STOP_LOSS, Decimal("0.2"),
                                   stop_price=Decimal(58000)))
    assert stop.status is OrderStatus.ACCEPTED and stop.venue_order_id == EMULATED and broker.open_orders() == []
    assert oms.on_price("BTC/USDT", Decimal(58500)) == []
    restarted = make_oms(broker, clock, journal)  # the emulated stop survives a restart
    assert restarted.report.clean and restarted.orders["sl"].venue_order_id == EMULATED
    broker.on_trade("BTC/USDT", Decimal(57900), Decimal(1), clock.now_ms())
    (sent,) = restarted.on_price("BTC/USDT", Decimal(57900))
    assert sent.status is OrderStatus.FILLED and restarted.positions() == {}
