"""The order state machine and the fills-only position book."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.brokers.errors import InvalidTransition
from actors.brokers.models import (
    TERMINAL,
    TRANSITIONS,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    PositionBook,
    Side,
    new_client_order_id,
)


def _order() -> Order:
    return Order(OrderRequest("c1", "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal(2), Decimal(100)))


def test_happy_path_new_accepted_partial_filled() -> None:
    o = _order().advance(OrderStatus.ACCEPTED, ts_ms=1, venue_order_id="v1")
    o = o.advance(OrderStatus.PARTIALLY_FILLED, ts_ms=2, filled_qty=Decimal(1))
    o = o.advance(OrderStatus.PARTIALLY_FILLED, ts_ms=3, filled_qty=Decimal("1.5"))
    o = o.advance(OrderStatus.FILLED, ts_ms=4, filled_qty=Decimal(2))
    assert o.status is OrderStatus.FILLED and o.remaining_qty == 0 and o.updated_ms == 4


@pytest.mark.parametrize("src", list(OrderStatus))
@pytest.mark.parametrize("dst", list(OrderStatus))
def test_only_documented_transitions_are_allowed(src: OrderStatus, dst: OrderStatus) -> None:
    order = Order(_order().request, src)
    if (src == dst and src not in TERMINAL) or dst in TRANSITIONS[src]:
        assert order.advance(dst, ts_ms=1).status is dst
    else:
        with pytest.raises(InvalidTransition) as info:
            order.advance(dst, ts_ms=1, reason="x")
        assert info.value.from_status == src and info.value.to_status == dst


def test_filled_qty_never_decreases_nor_exceeds_qty() -> None:
    o = _order().advance(OrderStatus.ACCEPTED, ts_ms=1).advance(OrderStatus.PARTIALLY_FILLED, ts_ms=2,
                                                                 filled_qty=Decimal(1))
    with pytest.raises(InvalidTransition):
        o.advance(OrderStatus.PARTIALLY_FILLED, ts_ms=3, filled_qty=Decimal("0.5"))
    with pytest.raises(InvalidTransition):
        o.advance(OrderStatus.FILLED, ts_ms=3, filled_qty=Decimal(3))


def test_request_validation() -> None:
    with pytest.raises(ValueError, match="limit_price"):
        OrderRequest("c", "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal(1))
    with pytest.raises(ValueError, match="stop_price"):
        OrderRequest("c", "BTC/USDT", Side.SELL, OrderType.STOP_LOSS, Decimal(1))
    with pytest.raises(ValueError, match="qty"):
        OrderRequest("c", "BTC/USDT", Side.SELL, OrderType.MARKET, Decimal(0))
    cid = new_client_order_id()
    assert cid.startswith("cr") and len(cid) == 26 and cid.isalnum()


def _fill(i: int, side: Side, qty: str, price: str, fee: str = "0") -> Fill:
    return Fill(f"f{i}", "c", "v", "BTC/USDT", side, Decimal(qty), Decimal(price), Decimal(fee), "USDT", i)


def test_position_book_pnl_and_average() -> None:
    book = PositionBook()
    book.apply(_fill(1, Side.BUY, "1", "100"))
    book.apply(_fill(2, Side.BUY, "1", "200"))
    assert book.qty["BTC/USDT"] == 2 and book.avg_price["BTC/USDT"] == 150
    pnl = book.apply(_fill(3, Side.SELL, "3", "160", fee="1"))
    assert pnl == Decimal(2 * 10 - 1)
    assert book.qty["BTC/USDT"] == -1 and book.avg_price["BTC/USDT"] == 160
