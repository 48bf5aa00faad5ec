"""Property tests: the guard never lets position, exposure, daily-loss or order-rate limits be exceeded.

An independent model in the test tracks fills, open orders and cash; every order the guard passes
is checked against the limits computed from that model.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.brokers.clock import ManualClock
from actors.brokers.errors import RiskRejected
from actors.brokers.models import OrderRequest, OrderType, Side
from actors.risk_guard import RiskGuardCore, RiskLimits

T0 = 1_717_200_000_000
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
START = {"BTC/USDT": Decimal(50_000), "ETH/USDT": Decimal(3_000), "SOL/USDT": Decimal(150)}
LIMITS = RiskLimits(max_position_notional=Decimal(8_000), max_gross_exposure=Decimal(12_000),
                    max_daily_loss=Decimal(400), max_orders=6, rate_window_s=5.0, price_band_bps=Decimal(200))

order_op = st.tuples(st.just("order"), st.integers(0, 2), st.booleans(),
                     st.one_of(st.integers(1, 40), st.integers(1, 400)), st.one_of(st.none(), st.integers(-300, 300)))
op = st.one_of(
    order_op, order_op, order_op,
    st.tuples(st.just("price"), st.integers(0, 2), st.integers(-1500, 1500)),
    st.tuples(st.just("fill"), st.integers(0, 50), st.integers(1, 100)),
    st.tuples(st.just("done"), st.integers(0, 50)),
    st.tuples(st.just("wait"), st.integers(0, 1500)),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=40))
def test_guard_never_exceeds_limits(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    clock = ManualClock(T0)
    guard = RiskGuardCore(LIMITS, clock)
    last = dict(START)
    for s, p in last.items():
        guard.mark(s, p)
    pos = dict.fromkeys(SYMBOLS, Decimal(0))
    cash = Decimal(0)
    open_: dict[str, list] = {}  # cid -> [symbol, side, remaining]
    passed_at: list[int] = []
    loss_hit = False
    n = 0
    for item in ops:
        kind = item[0]
        if kind == "order":
            _, si, buy, units, off = item
            symbol = SYMBOLS[si]
            qty = Decimal(units) * Decimal("0.001") * (Decimal(50_000) / START[symbol])
            qty = qty.quantize(Decimal("0.0001"))
            limit = None if off is None else (last[symbol] * (1 + Decimal(off) / 10_000)).quantize(Decimal("0.01"))
            n += 1
            req = OrderRequest(f"o{n}", symbol, Side.BUY if buy else Side.SELL,
                               OrderType.LIMIT if limit else OrderType.MARKET, qty, limit)
            marked = sum(pos[s] * last[s] for s in SYMBOLS)
            loss = -(cash + marked)
            loss_hit = loss_hit or loss >= LIMITS.max_daily_loss
            try:
                guard.check(req)
            except RiskRejected:
                continue
            # -- every passed order respects every limit, by the independent model --
            assert not loss_hit, "an order passed after the daily loss limit was reached"
            now = clock.now_ms()
            passed_at.append(now)
            assert sum(1 for t in passed_at if t > now - 5000) <= LIMITS.max_orders
            assert limit is None or abs(limit - last[symbol]) <= last[symbol] * Decimal("0.02")

            def worst(sym: str) -> Decimal:
                hi = pos[sym] + sum(o[2] for o in open_.values() if o[0] == sym and o[1] is Side.BUY)
                lo = pos[sym] - sum(o[2] for o in open_.values() if o[0] == sym and o[1] is Side.SELL)
                return max(abs(hi), abs(lo))

            before = worst(symbol)
            open_[req.client_order_id] = [symbol, req.side, qty]
            after = worst(symbol)
            px = limit if limit is not None else last[symbol]
            if after > before:
                assert after * px <= LIMITS.max_position_notional
                gross = sum(worst(s) * last[s] for s in SYMBOLS if s != symbol) + after * px
                assert gross <= LIMITS.max_gross_exposure
        elif kind == "price":
            _, si, move = item
            symbol = SYMBOLS[si]
            last[symbol] = (last[symbol] * (1 + Decimal(move) / 10_000)).quantize(Decimal("0.01"))
            guard.mark(symbol, last[symbol])
        elif kind == "fill" and open_:
            _, pick, pct = item
            cid = sorted(open_)[pick % len(open_)]
            symbol, side, remaining = open_[cid]
            qty = max(Decimal("0.0001"), (remaining * pct / 100).quantize(Decimal("0.0001")))
            qty = min(qty, remaining)
            signed = qty if side is Side.BUY else -qty
            fee = (qty * last[symbol] * Decimal("0.001")).quantize(Decimal("0.0001"))
            guard.on_fill(cid, symbol, signed, last[symbol], fee)
            pos[symbol] += signed
            cash -= signed * last[symbol] + fee
            open_[cid][2] -= qty
            if open_[cid][2] == 0:
                del open_[cid]
        elif kind == "done" and open_:
            cid = sorted(open_)[item[1] % len(open_)]
            guard.on_order_done(cid)
            del open_[cid]
        elif kind == "wait":
            clock.advance(item[1])
        # the guard's own view always matches the model
        assert all(guard.positions.get(s, Decimal(0)) == pos[s] for s in SYMBOLS)
        if -(cash + sum(pos[s] * last[s] for s in SYMBOLS)) >= LIMITS.max_daily_loss:
            loss_hit = True
        if loss_hit:
            assert guard.killed


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3000)), min_size=1, max_size=60),
       st.integers(1, 8), st.integers(1, 10))
def test_order_rate_never_exceeded(steps: list[tuple[bool, int]], max_orders: int, window_s: int) -> None:
    clock = ManualClock(T0)
    limits = RiskLimits(max_position_notional=Decimal(10**9), max_gross_exposure=Decimal(10**9),
                        max_orders=max_orders, rate_window_s=float(window_s))
    guard = RiskGuardCore(limits, clock)
    guard.mark("BTC/USDT", Decimal(50_000))
    passed: list[int] = []
    for i, (buy, wait_ms) in enumerate(steps):
        clock.advance(wait_ms)
        req = OrderRequest(f"r{i}", "BTC/USDT", Side.BUY if buy else Side.SELL, OrderType.MARKET, Decimal("0.001"))
        now = clock.now_ms()
        in_window = sum(1 for t in passed if t > now - window_s * 1000)
        try:
            guard.check(req)
        except RiskRejected as exc:
            assert exc.rule == "max_order_rate" and in_window >= max_orders
            continue
        passed.append(now)
        assert in_window + 1 <= max_orders
