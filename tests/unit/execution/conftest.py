"""Fixtures of the execution tests: a manual clock, a paper broker, a guard and an OMS on a memory journal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.brokers.clock import ManualClock
from actors.brokers.journal import MemoryJournal
from actors.brokers.models import MarketInfo
from actors.brokers.paper import PaperBroker, PaperConfig
from actors.oms_core import OmsCore
from actors.risk_guard import RiskGuardCore, RiskLimits

T0 = 1_717_200_000_000  # 2024-06-01 00:00 UTC

MARKETS = {
    "BTC/USDT": MarketInfo("BTC/USDT", "BTC", "USDT", Decimal("0.00001"), Decimal("0.01"), Decimal("0.00001"),
                           Decimal(5)),
    "ETH/USDT": MarketInfo("ETH/USDT", "ETH", "USDT", Decimal("0.0001"), Decimal("0.01"), Decimal("0.0001"),
                           Decimal(5)),
}


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at 2024-06-01."""
    return ManualClock(T0)


def make_paper(clock: ManualClock, **cfg: object) -> PaperBroker:
    """A paper broker with BTC and ETH markets and last prices 60000 / 3000."""
    broker = PaperBroker(PaperConfig(**cfg), clock, MARKETS)  # type: ignore[arg-type]
    broker.on_trade("BTC/USDT", Decimal(60000), Decimal(1), clock.now_ms())
    broker.on_trade("ETH/USDT", Decimal(3000), Decimal(1), clock.now_ms())
    return broker


def make_oms(broker: object, clock: ManualClock, journal: MemoryJournal | None = None,
             limits: RiskLimits | None = None) -> OmsCore:
    """An OMS with a fresh guard marked at the broker's last prices."""
    guard = RiskGuardCore(limits or RiskLimits(max_position_notional=Decimal(50_000),
                                               max_gross_exposure=Decimal(80_000), max_orders=1000), clock)
    for symbol in MARKETS:
        price = broker.last_price(symbol)  # type: ignore[attr-defined]
        if price is not None:
            guard.mark(symbol, price)
    return OmsCore(broker, guard, journal or MemoryJournal(), clock)  # type: ignore[arg-type]
