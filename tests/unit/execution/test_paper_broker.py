"""Paper broker: fills by the backtester's rules, fees and slippage, latency, partial fills, balances."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.brokers.base import Broker
from actors.brokers.clock import ManualClock
from actors.brokers.errors import DuplicateOrder, OrderNotFound, OrderRejected
from actors.brokers.models import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from pipelines.backtest.config import SlippageConfig
from pipelines.backtest.costs import slipped_price
from tests.unit.execution.conftest import make_paper


def _req(cid: str, side: Side, kind: OrderType, qty: str, *, limit: str | None = None, stop: str | None = None,
         tif: TimeInForce = TimeInForce.GTC, symbol: str = "BTC/USDT") -> OrderRequest:
    return OrderRequest(cid, symbol, side, kind, Decimal(qty), Decimal(limit) if limit else None,
                        Decimal(stop) if stop else None, tif)


def test_is_a_broker(clock: ManualClock) -> None:
    assert isinstance(make_paper(clock), Broker)


def test_market_buy_fills_now_with_backtester_slippage_and_fee(clock: ManualClock) -> None:
    broker = make_paper(clock, slippage=SlippageConfig(model="fixed_bps", bps=10), commission=0.001)
    order = broker.submit(_req("a", Side.BUY, OrderType.MARKET, "0.5"))
    assert order.status is OrderStatus.FILLED and order.filled_qty == Decimal("0.5")
    model = slipped_price(60000.0, 0.5, SlippageConfig(model="fixed_bps", bps=10), bar_volume=0.0)
    expected = Decimal("60060.00")  # the backtester's price, on the market's 0.01 tick
    assert abs(model - 60060.0) < 1e-6 and order.avg_price == expected
    (fill,) = broker.fills()
    assert fill.fee == Decimal("0.5") * expected * Decimal("0.001")
    bal = broker.balances()
    assert bal["BTC"].total == Decimal("0.5")
    assert bal["USDT"].total == Decimal(100_000) - Decimal("0.5") * expected - fill.fee
    assert bal["USDT"].free == bal["USDT"].total  # nothing left reserved
    assert broker.positions()["BTC/USDT"].qty == Decimal("0.5")


def test_limit_rests_then_fills_as_maker_partially_on_trade_size(clock: ManualClock) -> None:
    broker = make_paper(clock, commission=0.001, maker_commission=0.0002)
    order = broker.submit(_req("l", Side.BUY, OrderType.LIMIT, "1", limit="59000"))
    assert order.status is OrderStatus.ACCEPTED and broker.balances()["USDT"].free < Decimal(100_000)
    assert broker.on_trade("BTC/USDT", Decimal(59500), Decimal(5), clock.now_ms()) == []
    (f1,) = broker.on_trade("BTC/USDT", Decimal(58900), Decimal("0.3"), clock.now_ms() + 1)
    assert f1.price == Decimal(59000) and f1.qty == Decimal("0.3") and f1.liquidity == "maker"
    assert f1.fee == Decimal("0.3") * 59000 * Decimal("0.0002")
    got = broker.fetch_order("BTC/USDT", client_order_id="l")
    assert got is not None and got.status is OrderStatus.PARTIALLY_FILLED
    broker.on_trade("BTC/USDT", Decimal(58950), Decimal(10), clock.now_ms() + 2)
    got = broker.fetch_order("BTC/USDT", venue_order_id=order.venue_order_id)
    assert got is not None and got.status is OrderStatus.FILLED and got.filled_qty == 1
    assert broker.open_orders() == []
    assert broker.balances()["USDT"].free == broker.balances()["USDT"].total


def test_stop_loss_and_take_profit_trigger_on_bars(clock: ManualClock) -> None:
    broker = make_paper(clock)
    broker.submit(_req("b", Side.BUY, OrderType.MARKET, "1"))
    broker.submit(_req("sl", Side.SELL, OrderType.STOP_LOSS, "0.5", stop="58000"))
    broker.submit(_req("tp", Side.SELL, OrderType.TAKE_PROFIT, "0.5", stop="63000"))
    t = clock.now_ms()
    assert broker.on_bar("BTC/USDT", *(Decimal(x) for x in ("60000", "62000", "59000", "61000", "10")), t) == []
    (tp,) = broker.on_bar("BTC/USDT", *(Decimal(x) for x in ("61000", "63500", "60500", "63000", "10")), t + 1)
    assert tp.client_order_id == "tp" and tp.price == Decimal(63000)
    (sl,) = broker.on_bar("BTC/USDT", *(Decimal(x) for x in ("57000", "57500", "56000", "56500", "10")), t + 2)
    assert sl.client_order_id == "sl" and sl.price == Decimal(57000)  # gapped through: the open
    assert "BTC" not in broker.balances() or broker.balances()["BTC"].total == 0


def test_latency_delays_activation(clock: ManualClock) -> None:
    broker = make_paper(clock, latency_ms=250)
    order = broker.submit(_req("m", Side.BUY, OrderType.MARKET, "0.1"))
    assert order.status is OrderStatus.ACCEPTED
    assert broker.on_trade("BTC/USDT", Decimal(60100), Decimal(1), clock.now_ms() + 100) == []
    (fill,) = broker.on_trade("BTC/USDT", Decimal(60200), Decimal(1), clock.now_ms() + 250)
    assert fill.price == Decimal(60200)


def test_bar_volume_share_caps_fill_and_rest_stays_open(clock: ManualClock) -> None:
    slip = SlippageConfig(model="volume_share", impact_bps=0, max_participation=0.1)
    broker = make_paper(clock, slippage=slip, latency_ms=1)
    broker.submit(_req("v", Side.BUY, OrderType.MARKET, "1.5"))
    bar = [Decimal(x) for x in ("60000", "60100", "59900", "60050", "10")]
    (f1,) = broker.on_bar("BTC/USDT", *bar, clock.now_ms() + 60_000)
    assert f1.qty == Decimal(1)
    (f2,) = broker.on_bar("BTC/USDT", *bar, clock.now_ms() + 120_000)
    assert f2.qty == Decimal("0.5")
    assert broker.fetch_order("BTC/USDT", client_order_id="v").status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_ioc_and_fok(clock: ManualClock) -> None:
    broker = make_paper(clock)
    ioc = broker.submit(_req("i", Side.BUY, OrderType.LIMIT, "1", limit="59000", tif=TimeInForce.IOC))
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_qty == 0
    broker2 = make_paper(clock, latency_ms=1)
    broker2.submit(_req("f", Side.BUY, OrderType.MARKET, "1.5", tif=TimeInForce.FOK))
    broker2.on_trade("BTC/USDT", Decimal(60000), Decimal(1), clock.now_ms() + 5)
    fok = broker2.fetch_order("BTC/USDT", client_order_id="f")
    assert fok is not None and fok.status is OrderStatus.EXPIRED and broker2.fills() == []


def test_rejects_duplicates_and_insufficient_funds(clock: ManualClock) -> None:
    broker = make_paper(clock, cash=Decimal(1000))
    with pytest.raises(OrderRejected, match="insufficient USDT"):
        broker.submit(_req("x", Side.BUY, OrderType.MARKET, "1"))
    assert broker.fetch_order("BTC/USDT", client_order_id="x").status is OrderStatus.REJECTED  # type: ignore[union-attr]
    with pytest.raises(OrderRejected, match="insufficient BTC"):
        broker.submit(_req("y", Side.SELL, OrderType.MARKET, "1"))
    broker.submit(_req("z", Side.BUY, OrderType.LIMIT, "0.01", limit="50000"))
    with pytest.raises(DuplicateOrder):
        broker.submit(_req("z", Side.BUY, OrderType.LIMIT, "0.01", limit="50000"))


def test_cancel_and_amend(clock: ManualClock) -> None:
    broker = make_paper(clock)
    broker.submit(_req("c", Side.BUY, OrderType.LIMIT, "1", limit="59000"))
    free = broker.balances()["USDT"].free
    new = broker.amend("BTC/USDT", "c", "c2", limit_price=Decimal(58000))
    assert new.client_order_id == "c2" and new.request.limit_price == 58000
    assert broker.fetch_order("BTC/USDT", client_order_id="c").status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    assert broker.balances()["USDT"].free > free  # the smaller reservation
    assert broker.cancel("BTC/USDT", "c2").status is OrderStatus.CANCELLED
    assert broker.cancel("BTC/USDT", "c2").status is OrderStatus.CANCELLED  # idempotent
    assert broker.balances()["USDT"].free == Decimal(100_000)
    with pytest.raises(OrderNotFound):
        broker.cancel("BTC/USDT", "nope")
