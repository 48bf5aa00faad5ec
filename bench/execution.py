"""``coinray bench execution``: OMS + risk guard + paper broker throughput, decision -> ack latency against
the local simulator (through ccxt), and risk-guard checks per second (target >= 50k).
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal
from typing import Any

BASELINE = ("orders_per_s vs the bare paper broker (no OMS, no guard); p50/p99 decision->ack through the OMS "
            "vs a bare ccxt create_order round trip to the same simulator; guard_checks_per_s vs the 50k/s target")
TARGET_GUARD_CHECKS_PER_S = 50_000


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _oms_throughput(n: int) -> dict[str, float]:
    from actors.brokers.clock import ManualClock
    from actors.brokers.journal import MemoryJournal
    from actors.brokers.models import OrderRequest, OrderType, Side
    from actors.brokers.paper import PaperBroker, PaperConfig
    from actors.oms_core import OmsCore
    from actors.risk_guard import RiskGuardCore, RiskLimits

    clock = ManualClock(1_725_600_000_000)
    price = Decimal("56000.00")

    def reqs(prefix: str) -> list[OrderRequest]:
        return [OrderRequest(f"{prefix}{i}", "BTC/USDT", Side.BUY if i % 2 == 0 else Side.SELL, OrderType.MARKET,
                             Decimal("0.01")) for i in range(n)]

    broker = PaperBroker(PaperConfig(cash=Decimal(10**7)), clock)
    broker.on_trade("BTC/USDT", price, Decimal(1), clock.now_ms())
    guard = RiskGuardCore(RiskLimits(max_orders=10**9, max_position_notional=Decimal(10**9),
                                     max_gross_exposure=Decimal(10**9), max_daily_loss=Decimal(10**9)), clock)
    guard.mark("BTC/USDT", price)
    oms = OmsCore(broker, guard, MemoryJournal(), clock)
    batch = reqs("o")
    start = time.perf_counter()
    for r in batch:
        clock.advance(1)
        oms.submit(r)
    oms_s = time.perf_counter() - start
    bare = PaperBroker(PaperConfig(cash=Decimal(10**7)), clock)
    bare.on_trade("BTC/USDT", price, Decimal(1), clock.now_ms())
    batch = reqs("b")
    start = time.perf_counter()
    for r in batch:
        clock.advance(1)
        bare.submit(r)
    bare_s = time.perf_counter() - start
    return {"orders_per_s": n / oms_s, "baseline_orders_per_s": n / bare_s}


def _guard_rate(n: int) -> float:
    from actors.brokers.clock import ManualClock
    from actors.brokers.models import MarketInfo, OrderRequest, OrderType, Side
    from actors.risk_guard import RiskGuardCore, RiskLimits

    clock = ManualClock(1_725_600_000_000)
    guard = RiskGuardCore(RiskLimits(max_orders=10**9, max_position_notional=Decimal(10**9),
                                     max_gross_exposure=Decimal(10**9), max_daily_loss=Decimal(10**9)), clock)
    for s, p in (("BTC/USDT", "56000.00"), ("ETH/USDT", "2400.00"), ("SOL/USDT", "130.00")):
        guard.mark(s, Decimal(p))
    market = MarketInfo("BTC/USDT", "BTC", "USDT", Decimal("0.00001"), Decimal("0.01"), Decimal("0.00001"),
                        Decimal(5))
    batch = [OrderRequest(f"g{i}", "BTC/USDT", Side.BUY if i % 2 else Side.SELL, OrderType.LIMIT, Decimal("0.01"),
                          Decimal("55990.00")) for i in range(n)]
    start = time.perf_counter()
    for r in batch:
        guard.check(r, market=market)
        guard.on_order_done(r.client_order_id)
    return n / (time.perf_counter() - start)


class _AckTimer:
    """Wraps a broker to note when ``submit`` returned (the venue's acknowledgement reached us)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = inner.name
        self.acked_at = 0.0

    def submit(self, request: Any) -> Any:
        order = self._inner.submit(request)
        self.acked_at = time.perf_counter()
        return order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _sim_latency(n: int) -> dict[str, float]:
    from pydantic import SecretStr

    from actors.brokers.ccxt_broker import CcxtBroker, CcxtBrokerConfig
    from actors.brokers.clock import SystemClock
    from actors.brokers.journal import MemoryJournal
    from actors.brokers.models import OrderRequest, OrderType, Side
    from actors.oms_core import OmsCore
    from actors.risk_guard import RiskGuardCore, RiskLimits
    from cluster.sim.dataset import build_dataset
    from cluster.sim.orders import SimOrderBook, ThreadedServer, build_order_sim_app

    dataset = build_dataset("binance")
    closes = {s: rows[-1][4] for (s, tf), rows in dataset.klines.items() if tf == "1h"}
    book = SimOrderBook(closes.get, balances={"USDT": Decimal(10**9), "BTC": Decimal(10**4)})
    with ThreadedServer(build_order_sim_app("binance", dataset, book)) as server:
        cfg = CcxtBrokerConfig(exchange="binance", api_key=SecretStr("bench-key-0001"),
                               api_secret=SecretStr("bench-secret-0001"), rest_url=server.url, symbols=("BTC/USDT",))
        broker = CcxtBroker(cfg)
        broker.market("BTC/USDT")  # load markets once, outside the timing
        clock = SystemClock()
        guard = RiskGuardCore(RiskLimits(max_orders=10**9, max_position_notional=Decimal(10**9),
                                         max_gross_exposure=Decimal(10**9), max_daily_loss=Decimal(10**9)), clock)
        guard.mark("BTC/USDT", Decimal(str(closes["BTC/USDT"])))
        timed = _AckTimer(broker)
        oms = OmsCore(timed, guard, MemoryJournal(), clock)  # type: ignore[arg-type]
        ack_ms, total_ms = [], []
        for i in range(n):
            req = OrderRequest(f"crbench{i}", "BTC/USDT", Side.BUY if i % 2 == 0 else Side.SELL, OrderType.MARKET,
                               Decimal(1))
            t0 = time.perf_counter()
            oms.submit(req)
            total_ms.append((time.perf_counter() - t0) * 1000)
            ack_ms.append((timed.acked_at - t0) * 1000)
        raw_ms = []
        for i in range(n):
            t0 = time.perf_counter()
            broker.client.create_order("BTC/USDT", "market", "buy" if i % 2 == 0 else "sell", 1.0, None,
                                       {"clientOrderId": f"crraw{i}"})
            raw_ms.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": statistics.median(ack_ms), "p99_ms": _percentile(ack_ms, 0.99),
            "submit_with_fill_booking_p50_ms": statistics.median(total_ms),
            "baseline_ccxt_p50_ms": statistics.median(raw_ms), "baseline_ccxt_p99_ms": _percentile(raw_ms, 0.99),
            "sim_orders": len(book.orders)}


def run(settings: Any, *, quick: bool) -> dict[str, Any]:
    """Measure and return one JSON object (see the module docstring)."""
    n_orders, n_checks, n_sim = (1_000, 20_000, 50) if quick else (5_000, 100_000, 300)
    throughput = _oms_throughput(n_orders)
    guard = _guard_rate(n_checks)
    latency = _sim_latency(n_sim)
    return {"bench": "execution", "baseline": BASELINE, "quick": quick,
            "orders_per_s": round(throughput["orders_per_s"], 1),
            "baseline_orders_per_s": round(throughput["baseline_orders_per_s"], 1),
            "p50_ms": round(latency["p50_ms"], 3), "p99_ms": round(latency["p99_ms"], 3),
            "submit_with_fill_booking_p50_ms": round(latency["submit_with_fill_booking_p50_ms"], 3),
            "baseline_ccxt_p50_ms": round(latency["baseline_ccxt_p50_ms"], 3),
            "baseline_ccxt_p99_ms": round(latency["baseline_ccxt_p99_ms"], 3),
            "guard_checks_per_s": round(guard, 1), "guard_target_per_s": TARGET_GUARD_CHECKS_PER_S,
            "guard_meets_target": guard >= TARGET_GUARD_CHECKS_PER_S,
            "n_orders": n_orders, "n_guard_checks": n_checks, "n_sim_orders": n_sim}
