"""Property tests: OMS positions always equal the sum of fills, through timeouts, restarts and cancels.

Also random walks of the order state machine never leave the documented transitions.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.brokers.clock import ManualClock
from actors.brokers.errors import InvalidTransition, OrderRejected, RiskRejected
from actors.brokers.journal import MemoryJournal
from actors.brokers.models import TRANSITIONS, Order, OrderRequest, OrderStatus, OrderType, Side
from cluster.errors import RetriesExhausted
from tests.unit.execution.conftest import T0, make_oms, make_paper
from tests.unit.execution.test_oms_core import FlakyBroker

op = st.one_of(
    st.tuples(st.just("market"), st.booleans(), st.integers(1, 50)),
    st.tuples(st.just("limit"), st.booleans(), st.integers(1, 50), st.integers(-100, 100)),
    st.tuples(st.just("trade"), st.integers(-150, 150), st.integers(1, 30)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("timeout"), st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.just("poll")),
    st.tuples(st.just("restart")),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=25))
def test_positions_equal_sum_of_fills(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    clock = ManualClock(T0)
    inner = make_paper(clock)
    broker = FlakyBroker(inner)
    journal = MemoryJournal()
    oms = make_oms(broker, clock, journal)
    oms.cfg = oms.cfg.model_copy(update={"submit_attempts": 4})
    price = Decimal(60000)
    n = 0
    for item in ops:
        clock.advance(100)
        kind = item[0]
        try:
            if kind in ("market", "limit"):
                n += 1
                side = Side.BUY if item[1] else Side.SELL
                qty = Decimal(item[2]) / 1000
                if kind == "market":
                    req = OrderRequest(f"o{n}", "BTC/USDT", side, OrderType.MARKET, qty)
                else:
                    limit = (price * (1 + Decimal(item[3]) / 10_000)).quantize(Decimal("0.01"))
                    req = OrderRequest(f"o{n}", "BTC/USDT", side, OrderType.LIMIT, qty, limit)
                oms.submit(req)
            elif kind == "trade":
                price = (price * (1 + Decimal(item[1]) / 10_000)).quantize(Decimal("0.01"))
                inner.on_trade("BTC/USDT", price, Decimal(item[2]) / 100, clock.now_ms())
                oms.on_price("BTC/USDT", price)
            elif kind == "cancel":
                open_ = sorted(o.client_order_id for o in oms.open_orders())
                if open_:
                    oms.cancel("BTC/USDT", open_[item[1] % len(open_)])
            elif kind == "timeout":
                broker.accept_then_timeout, broker.lookup_timeouts = item[1], item[2]
            elif kind == "poll":
                oms.poll()
            else:
                oms = make_oms(broker, clock, journal)
                oms.cfg = oms.cfg.model_copy(update={"submit_attempts": 4})
        except (RiskRejected, OrderRejected, RetriesExhausted):
            pass
        venue_fills = inner.fills()
        ids = [f.client_order_id for f in inner.open_orders()]
        assert len(ids) == len(set(ids))
        oms.poll()
        expected = sum((f.signed_qty for f in venue_fills), Decimal(0))
        assert oms.positions().get("BTC/USDT", Decimal(0)) == expected
        assert sum((f.signed_qty for f in journal.fills.values()), Decimal(0)) == expected
        assert inner.balances().get("BTC") is None or inner.balances()["BTC"].total == expected
    at_venue = sum(1 for i in range(1, n + 1) if inner.fetch_order("BTC/USDT", client_order_id=f"o{i}"))
    assert broker.venue_submits == at_venue  # every order reached the venue at most once


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(list(OrderStatus)), max_size=12), st.lists(st.integers(0, 3), max_size=12))
def test_state_machine_walks(steps: list[OrderStatus], fills: list[int]) -> None:
    order = Order(OrderRequest("w", "BTC/USDT", Side.BUY, OrderType.MARKET, Decimal(3)))
    for status, add in zip(steps, fills + [0] * len(steps), strict=False):
        before = order
        filled = min(order.filled_qty + add, Decimal(3)) if not order.status.terminal else order.filled_qty
        try:
            order = order.advance(status, ts_ms=1, filled_qty=filled)
        except InvalidTransition:
            allowed = status in TRANSITIONS[before.status] or (status == before.status and not status.terminal)
            assert not allowed or filled < before.filled_qty or before.status.terminal
            continue
        assert status in TRANSITIONS[before.status] or status == before.status
        assert not before.status.terminal
        assert before.filled_qty <= order.filled_qty <= order.request.qty
