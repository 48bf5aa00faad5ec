"""Risk guard rules, each rejection's rule and numbers, the kill switch, and sizing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.brokers.clock import ManualClock
from actors.brokers.errors import RiskRejected
from actors.brokers.models import MarketInfo, OrderRequest, OrderType, Side
from actors.risk_guard import RiskGuardCore, RiskLimits, capped_kelly, fixed_fraction, volatility_target

T0 = 1_717_200_000_000
BTC = MarketInfo("BTC/USDT", "BTC", "USDT", Decimal("0.001"), Decimal("0.1"), Decimal("0.001"), Decimal(10))


def _guard(**limits: object) -> tuple[RiskGuardCore, ManualClock]:
    clock = ManualClock(T0)
    base: dict[str, object] = {"max_position_notional": Decimal(10_000), "max_gross_exposure": Decimal(15_000),
                               "max_daily_loss": Decimal(500), "max_orders": 5, "rate_window_s": 10.0,
                               "price_band_bps": Decimal(100)}
    base.update(limits)
    guard = RiskGuardCore(RiskLimits(**base), clock)  # type: ignore[arg-type]
    guard.mark("BTC/USDT", Decimal(50_000))
    guard.mark("ETH/USDT", Decimal(2_000))
    return guard, clock


_n = iter(range(10**9))


def _req(side: Side, qty: str, *, symbol: str = "BTC/USDT", limit: str | None = None,
         reduce_only: bool = False) -> OrderRequest:
    kind = OrderType.LIMIT if limit else OrderType.MARKET
    return OrderRequest(f"c{next(_n)}", symbol, side, kind, Decimal(qty), Decimal(limit) if limit else None,
                        reduce_only=reduce_only)


def _rule(guard: RiskGuardCore, req: OrderRequest, market: MarketInfo | None = None) -> RiskRejected:
    with pytest.raises(RiskRejected) as info:
        guard.check(req, market=market)
    return info.value


def test_max_position_carries_rule_and_numbers() -> None:
    guard, _ = _guard()
    guard.check(_req(Side.BUY, "0.1"))  # 5,000
    err = _rule(guard, _req(Side.BUY, "0.11"))  # worst case 0.21 x 50,000 = 10,500
    assert err.rule == "max_position"
    assert err.numbers["projected_notional"] == Decimal("10500.00") and err.numbers["limit"] == Decimal(10_000)
    assert "max_position" in str(err) and "10500" in str(err)
    guard.check(_req(Side.SELL, "0.05"))  # a sell reduces the worst case: allowed


def test_pending_orders_count_towards_the_worst_case_until_done() -> None:
    guard, _ = _guard()
    first = _req(Side.BUY, "0.15")
    guard.check(first)
    assert _rule(guard, _req(Side.BUY, "0.06")).rule == "max_position"
    guard.on_fill(first.client_order_id, "BTC/USDT", Decimal("0.05"), Decimal(50_000), Decimal(0))
    guard.on_order_done(first.client_order_id)  # 0.10 unfilled is released
    guard.check(_req(Side.BUY, "0.14"))
    assert guard.positions["BTC/USDT"] == Decimal("0.05")


def test_gross_exposure_across_symbols() -> None:
    guard, _ = _guard()
    guard.check(_req(Side.BUY, "0.19"))  # 9,500
    err = _rule(guard, _req(Side.BUY, "3", symbol="ETH/USDT"))  # +6,000 -> 15,500
    assert err.rule == "max_gross_exposure" and err.numbers["projected"] == Decimal("15500.00")


def test_price_band_and_reference_price() -> None:
    guard, _ = _guard()
    err = _rule(guard, _req(Side.BUY, "0.01", limit="50600"))  # 1.2% away, band 1%
    assert err.rule == "price_band" and err.numbers["last"] == Decimal(50_000)
    guard.check(_req(Side.BUY, "0.01", limit="50400"))
    assert _rule(guard, _req(Side.BUY, "1", symbol="SOL/USDT")).rule == "no_reference_price"


def test_venue_rules() -> None:
    guard, _ = _guard()
    assert _rule(guard, _req(Side.BUY, "0.0015"), BTC).rule == "lot_size"
    assert _rule(guard, _req(Side.BUY, "0.001", limit="50000.05"), BTC).rule == "tick_size"
    err = _rule(guard, _req(Side.BUY, "0.001", limit="5000.0"), MarketInfo(
        "BTC/USDT", "BTC", "USDT", Decimal("0.001"), Decimal("0.1"), Decimal("0.001"), Decimal(10)))
    assert err.rule == "price_band"
    small = MarketInfo("BTC/USDT", "BTC", "USDT", Decimal("0.0001"), Decimal("0.1"), Decimal("0.0001"), Decimal(10))
    err = _rule(guard, _req(Side.BUY, "0.0001"), small)
    assert err.rule == "min_notional" and err.numbers["notional"] == Decimal("5.0000")
    big_min = MarketInfo("BTC/USDT", "BTC", "USDT", Decimal("0.001"), Decimal("0.1"), Decimal("0.01"), Decimal(0))
    assert _rule(guard, _req(Side.BUY, "0.001"), big_min).rule == "min_qty"


def test_order_rate_window_slides() -> None:
    guard, clock = _guard()
    for _ in range(5):
        guard.check(_req(Side.BUY, "0.001"))
        clock.advance(1000)
    assert _rule(guard, _req(Side.BUY, "0.001")).rule == "max_order_rate"
    clock.advance(5001)  # the first order is now older than 10 s
    guard.check(_req(Side.BUY, "0.001"))


def test_reduce_only() -> None:
    guard, _ = _guard()
    assert _rule(guard, _req(Side.SELL, "0.01", reduce_only=True)).rule == "reduce_only"
    buy = _req(Side.BUY, "0.02")
    guard.check(buy)
    guard.on_fill(buy.client_order_id, "BTC/USDT", Decimal("0.02"), Decimal(50_000), Decimal(0))
    guard.check(_req(Side.SELL, "0.02", reduce_only=True))
    assert _rule(guard, _req(Side.BUY, "0.01", reduce_only=True)).rule == "reduce_only"


def test_daily_loss_trips_kill_switch_until_reset_and_resets_next_day() -> None:
    guard, clock = _guard()
    buy = _req(Side.BUY, "0.1")
    guard.check(buy)
    guard.on_fill(buy.client_order_id, "BTC/USDT", Decimal("0.1"), Decimal(50_000), Decimal(5))
    guard.mark("BTC/USDT", Decimal(45_100))  # 0.1 x -4,900 - 5 fee = -495
    assert not guard.killed and guard.daily_loss() == Decimal(495)
    guard.mark("BTC/USDT", Decimal(45_000))  # -505
    assert guard.killed
    err = _rule(guard, _req(Side.SELL, "0.1", limit="45000"))
    assert err.rule == "kill_switch" and "505" in str(err.numbers["reason"])
    clock.advance(86_400_000)  # a new day does not clear the switch by itself
    assert _rule(guard, _req(Side.SELL, "0.01")).rule == "kill_switch"
    guard.reset_kill_switch()
    assert guard.daily_loss() == 0
    guard.check(_req(Side.SELL, "0.01"))


def test_sizing() -> None:
    assert fixed_fraction(Decimal(10_000), 0.25, Decimal(3), lot_size=Decimal(1)) == Decimal(833)
    assert volatility_target(Decimal(10_000), 0.5, 0.25, Decimal(100), max_leverage=1.5) == Decimal(150)
    assert volatility_target(Decimal(10_000), 0.5, 0.0, Decimal(100)) == 0
    assert capped_kelly(Decimal(10_000), 0.4, 1.0, Decimal(100)) == 0  # negative edge
    assert capped_kelly(Decimal(10_000), 0.9, 2.0, Decimal(100), cap=0.25) == Decimal(25)


def test_guard_check_is_fast_enough_for_the_benchmark_target() -> None:
    import time

    guard, _clock = _guard(max_orders=10**9, max_position_notional=Decimal(10**12),
                          max_gross_exposure=Decimal(10**12))
    reqs = [_req(Side.BUY if i % 2 else Side.SELL, "0.001", limit="50000.0") for i in range(5000)]
    start = time.perf_counter()
    for r in reqs:
        guard.check(r, market=BTC)
        guard.on_order_done(r.client_order_id)
    rate = len(reqs) / (time.perf_counter() - start)
    assert rate > 10_000  # loose bound for a shared CI core; the bench reports the real figure
