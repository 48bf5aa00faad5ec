"""ccxt adapters against the simulator's order endpoints (real Binance/Coinbase wire formats, unmodified ccxt).

Injected faults: responses lost after the venue accepted the order, requests dropped before it,
rejects and partial fills. Invariants: no duplicate order, every fill accounted.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from actors.brokers.ccxt_broker import CcxtBroker, CcxtBrokerConfig
from actors.brokers.clock import ManualClock
from actors.brokers.errors import OrderRejected
from actors.brokers.journal import MemoryJournal
from actors.brokers.models import OrderRequest, OrderStatus, OrderType, Side
from actors.oms_core import OmsConfig, OmsCore
from actors.risk_guard import RiskGuardCore, RiskLimits
from cluster.sim.dataset import SimDataset, build_dataset
from cluster.sim.orders import OrderFaultConfig, SimOrderBook
from tests.integration.execution.simhelpers import SimServer, last_kline_close

pytestmark = pytest.mark.integration
T0 = 1_725_600_000_000


@pytest.fixture(scope="module")
def dataset() -> SimDataset:
    return build_dataset("binance")


@pytest.fixture
def sim(dataset: SimDataset) -> Iterator[SimServer]:
    book = SimOrderBook(last_kline_close(dataset), balances={"USDT": Decimal(1_000_000), "BTC": Decimal(2)},
                        now_ms=lambda: T0)
    with SimServer("binance", dataset, book) as server:
        yield server


def _broker(sim: SimServer) -> CcxtBroker:
    cfg = CcxtBrokerConfig(exchange="binance", api_key=SecretStr("sim-key-123456"),
                           api_secret=SecretStr("sim-secret-123456"), rest_url=sim.url, symbols=("BTC/USDT",),
                           timeout_ms=5000)
    broker = CcxtBroker(cfg)
    broker.client.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
    return broker


def _oms(broker: CcxtBroker, sim: SimServer, journal: MemoryJournal | None = None) -> OmsCore:
    clock = ManualClock(T0)
    guard = RiskGuardCore(RiskLimits(max_position_notional=Decimal(500_000), max_gross_exposure=Decimal(900_000),
                                     max_orders=1000), clock)
    guard.mark("BTC/USDT", sim.book.last_price("BTC/USDT"))  # type: ignore[arg-type]
    return OmsCore(broker, guard, journal or MemoryJournal(), clock, OmsConfig(account="sim", submit_attempts=4))


def _mkt(cid: str, side: Side, qty: str) -> OrderRequest:
    return OrderRequest(cid, "BTC/USDT", side, OrderType.MARKET, Decimal(qty))


def _accounted(oms: OmsCore, sim: SimServer) -> None:
    """Every venue fill is booked once and positions equal the sum of fills."""
    oms.poll()
    venue = {str(t["id"]): t for t in sim.book.trades}
    booked = {f.fill_id for f in oms.journal.load_fills()}  # type: ignore[attr-defined]
    assert booked == set(venue)
    net = sum((t["qty"] if t["side"] == "BUY" else -t["qty"] for t in venue.values()), Decimal(0))
    assert oms.positions().get("BTC/USDT", Decimal(0)) == net
    ids = [o.client_id for o in sim.book.orders.values()]
    assert len(ids) == len(set(ids))


def test_market_and_limit_orders_round_trip(sim: SimServer) -> None:
    broker = _broker(sim)
    market = broker.market("BTC/USDT")
    assert market.lot_size > 0 and market.tick_size > 0 and not market.supports_stops
    oms = _oms(broker, sim)
    filled = oms.submit(_mkt("crmkt1", Side.BUY, "1"))  # the sim serves BTCUSDT with a 1.0 lot
    assert filled.status is OrderStatus.FILLED and filled.venue_order_id
    limit_px = (sim.book.last_price("BTC/USDT") * Decimal("0.99")).quantize(Decimal("0.01"))  # type: ignore[operator]
    resting = oms.submit(OrderRequest("crlim1", "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal(2), limit_px))
    assert resting.status is OrderStatus.ACCEPTED and [o.client_order_id for o in broker.open_orders()] == ["crlim1"]
    sim.trade("BTC/USDT", str(limit_px - 1), "1")
    oms.poll()
    assert oms.orders["crlim1"].status is OrderStatus.PARTIALLY_FILLED
    assert oms.cancel("BTC/USDT", "crlim1").status is OrderStatus.CANCELLED
    assert broker.balances()["BTC"].total == Decimal(4)
    _accounted(oms, sim)


@pytest.mark.parametrize("fault", ["lose_response_every", "drop_request_every"])
def test_lost_or_dropped_submissions_never_duplicate(sim: SimServer, fault: str) -> None:
    oms = _oms(_broker(sim), sim)
    sim.book.faults = OrderFaultConfig(**{fault: 2})  # every second placement
    for i in range(6):
        order = oms.submit(_mkt(f"crf{i}", Side.BUY if i % 2 == 0 else Side.SELL, "1"))
        assert order.status is OrderStatus.FILLED
    assert sim.book.injected[fault.removesuffix("_every")] >= 2
    assert len(sim.book.orders) == 6  # one venue order per client id
    _accounted(oms, sim)


def test_rejects_and_partial_fills_are_accounted(sim: SimServer) -> None:
    oms = _oms(_broker(sim), sim)
    sim.book.faults = OrderFaultConfig(reject_every=3, partial_fill_every=2)
    outcomes = []
    for i in range(6):
        try:
            outcomes.append(oms.submit(_mkt(f"crp{i}", Side.BUY, "1")).status)
        except OrderRejected as exc:
            outcomes.append(OrderStatus.REJECTED)
            assert "insufficient" in exc.reason.lower()
    assert outcomes.count(OrderStatus.REJECTED) == 2
    assert OrderStatus.PARTIALLY_FILLED in outcomes
    sim.trade("BTC/USDT", "56000", "10")  # the rest of the partial market orders fill
    oms.poll()
    assert all(o.status in (OrderStatus.FILLED, OrderStatus.REJECTED) for o in oms.orders.values())
    _accounted(oms, sim)


def test_restart_mid_order_reconciles_with_the_venue(sim: SimServer) -> None:
    broker = _broker(sim)
    journal = MemoryJournal()
    oms = _oms(broker, sim, journal)
    oms.submit(_mkt("crr1", Side.BUY, "1"))
    px = (sim.book.last_price("BTC/USDT") * Decimal("0.995")).quantize(Decimal("0.01"))  # type: ignore[operator]
    oms.submit(OrderRequest("crr2", "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal(2), px))
    sim.book.faults = OrderFaultConfig(lose_response_every=1)
    broker2 = _broker(sim)
    oms_down = _oms(broker2, sim, journal)
    oms_down.cfg = OmsConfig(account="sim", submit_attempts=1)
    with pytest.raises(Exception, match="outcome unknown"):
        oms_down.submit(_mkt("crr3", Side.SELL, "1"))  # accepted, answer lost, then "crash"
    sim.book.faults = OrderFaultConfig()
    sim.trade("BTC/USDT", str(px), "5")  # crr2 fills while the OMS is down
    restarted = _oms(_broker(sim), sim, journal)
    rep = restarted.report
    assert set(rep.updated_orders) == {"crr2", "crr3"} and rep.missing_orders == []
    assert restarted.orders["crr3"].status is OrderStatus.FILLED
    assert restarted.orders["crr2"].status is OrderStatus.FILLED
    assert {k: (Decimal(a), Decimal(b)) for k, (a, b) in rep.position_diffs.items()} == \
        {"BTC/USDT": (Decimal(2), Decimal(4))}  # the venue also holds the 2 BTC we started with
    assert len([o for o in sim.book.orders.values() if o.client_id == "crr3"]) == 1
    _accounted(restarted, sim)


def test_coinbase_through_ccxt(dataset: SimDataset) -> None:
    cb = SimDataset(trades=build_dataset("coinbase").trades, klines={})
    symbol = "SKL/USD"
    last = next(t.price for t in reversed(cb.trades) if t.symbol == symbol)
    book = SimOrderBook(lambda s: last if s == symbol else None, balances={"USD": Decimal(100_000)},
                        now_ms=lambda: T0, faults=OrderFaultConfig(lose_response_every=2))
    with SimServer("coinbase", cb, book) as server:
        cfg = CcxtBrokerConfig(exchange="coinbase", api_key=SecretStr("cb-key-123456"),
                               api_secret=SecretStr(base64.b64encode(b"cb-secret-0123456789").decode()),
                               password=SecretStr("passphrase1"), rest_url=server.url, quote="USD",
                               symbols=(symbol,))
        broker = CcxtBroker(cfg)
        clock = ManualClock(T0)
        guard = RiskGuardCore(RiskLimits(max_orders=100), clock)
        guard.mark(symbol, Decimal(str(last)))
        oms = OmsCore(broker, guard, MemoryJournal(), clock, OmsConfig(account="cb", submit_attempts=3))
        for i in range(4):
            order = oms.submit(OrderRequest(f"cb{i}", symbol, Side.BUY, OrderType.MARKET, Decimal(100)))
            assert order.status is OrderStatus.FILLED
        assert len(book.orders) == 4 and book.injected["lose_response"] == 2
        oms.poll()
        assert oms.positions()[symbol] == Decimal(400) == broker.positions()[symbol].qty
        assert len({f.fill_id for f in oms.journal.load_fills()}) == len(book.trades) == 4  # type: ignore[attr-defined]
