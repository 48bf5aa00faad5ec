"""Deterministic fault injection for the simulator: which frame or request gets which fault."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cluster.sim.config import FaultConfig


def _hits(every: int | None, n: int) -> bool:
    return every is not None and n % every == 0


@dataclass
class WsPlan:
    """What to do around one outgoing trade frame."""

    stall_s: float = 0.0
    extra_before: list[str] = field(default_factory=list)  # "malformed" | "truncated" | "unknown"
    duplicate: bool = False
    reorder: bool = False
    disconnect_after: bool = False


@dataclass
class FaultInjector:
    """Counts frames and requests and decides the faults from a :class:`FaultConfig`.

    ``injected`` counts every fault actually applied, by kind.
    """

    config: FaultConfig = field(default_factory=FaultConfig)
    ws_frames: int = 0
    http_requests: int = 0
    injected: Counter[str] = field(default_factory=Counter)

    def plan_frame(self) -> WsPlan:
        """Advance the frame counter and return the plan for this frame."""
        self.ws_frames += 1
        n, c = self.ws_frames, self.config
        plan = WsPlan()
        if _hits(c.stall_every, n) and c.stall_s > 0:
            plan.stall_s = c.stall_s
        for kind, every in (("malformed", c.malformed_every), ("truncated", c.truncated_every),
                            ("unknown", c.unknown_every)):
            if _hits(every, n):
                plan.extra_before.append(kind)
        plan.duplicate = _hits(c.duplicate_every, n)
        plan.reorder = _hits(c.reorder_every, n)
        plan.disconnect_after = _hits(c.disconnect_every, n)
        return plan

    def record(self, kind: str) -> None:
        """Count one applied fault."""
        self.injected[kind] += 1

    def http_fault(self) -> tuple[int, str] | None:
        """Advance the request counter; (status, reason) when this request must fail."""
        self.http_requests += 1
        n, c = self.http_requests, self.config
        for status, every, reason in ((429, c.http_429_every, "http_429"), (418, c.http_418_every, "http_418"),
                                      (503, c.http_5xx_every, "http_5xx")):
            if _hits(every, n):
                self.injected[reason] += 1
                return status, reason
        return None

    def total(self) -> int:
        """Faults injected so far."""
        return sum(self.injected.values())
