"""``RiskGuard``: the thin Ray actor over :class:`actors.risk_guard.RiskGuardCore` (a shared pre-trade check)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ray

from actors.brokers.clock import SystemClock
from actors.brokers.models import MarketInfo, OrderRequest
from actors.risk_guard import RiskGuardCore, RiskLimits


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class RiskGuard:
    """Checks orders; ``check`` raises ``RiskRejected`` (wrapped by Ray) with the rule and numbers."""

    def __init__(self, limits: RiskLimits, positions: dict[str, Decimal] | None = None) -> None:
        self._core = RiskGuardCore(limits, SystemClock())
        self._core.load_positions(positions or {})

    def check(self, request: OrderRequest, market: MarketInfo | None = None) -> None:
        """Pass or raise."""
        self._core.check(request, market=market)

    def mark(self, symbol: str, price: Decimal) -> None:
        """Last trade price."""
        self._core.mark(symbol, price)

    def on_fill(self, client_order_id: str, symbol: str, signed_qty: Decimal, price: Decimal, fee: Decimal) -> None:
        """Book a fill."""
        self._core.on_fill(client_order_id, symbol, signed_qty, price, fee)

    def on_order_done(self, client_order_id: str) -> None:
        """Release a finished order's reservation."""
        self._core.on_order_done(client_order_id)

    def trip(self, reason: str) -> None:
        """Kill switch on."""
        self._core.trip(reason)

    def reset_kill_switch(self) -> None:
        """Kill switch off."""
        self._core.reset_kill_switch()

    def state(self) -> dict[str, Any]:
        """Kill switch, daily loss, exposure, checks and rejects by rule."""
        c = self._core
        return {"killed": c.killed, "kill_reason": c.kill_reason, "daily_loss": str(c.daily_loss()),
                "gross_exposure": str(c.gross_exposure()), "checks": c.checks, "rejects": dict(c.rejects)}
