"""Injected time for execution code: the ``Clock`` protocol, the system clock and a manual clock for tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of UTC epoch milliseconds."""

    def now_ms(self) -> int:
        """Current time, UTC epoch ms."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now_ms(self) -> int:
        """Current time, UTC epoch ms."""
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told (tests, replays).

    >>> c = ManualClock(1000); c.advance(500); c.now_ms()
    1500
    """

    def __init__(self, start_ms: int = 0) -> None:
        self.t = start_ms

    def now_ms(self) -> int:
        """The current manual time."""
        return self.t

    def advance(self, ms: int) -> None:
        """Move forward by ``ms``."""
        self.t += ms

    def set(self, ms: int) -> None:
        """Jump to ``ms`` (never backwards)."""
        self.t = max(self.t, ms)
