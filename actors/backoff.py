"""Exponential backoff with jitter: a pure delay generator and a retry budget that resets on success."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from cluster.errors import RetriesExhausted

logger = logging.getLogger(__name__)
T = TypeVar("T")


def backoff_delays(initial_s: float, factor: float, max_s: float, jitter: float,
                   rng: random.Random) -> Iterator[float]:
    """Yield delays ``initial_s * factor**k`` capped at ``max_s``, each scaled by ``1 - jitter*u``.

    The un-jittered sequence is non-decreasing and capped; jitter only shortens a delay
    (``u`` is uniform in [0, 1)), so no delay exceeds ``max_s``.

    Parameters
    ----------
    initial_s:
        First delay in seconds (> 0).
    factor:
        Growth per attempt (>= 1).
    max_s:
        Cap in seconds.
    jitter:
        Fraction in [0, 1] of each delay that is randomised away.
    rng:
        Seeded random source (no global randomness).

    Examples
    --------
    >>> delays = backoff_delays(0.5, 2.0, 4.0, 0.0, random.Random(0))
    >>> [next(delays) for _ in range(5)]
    [0.5, 1.0, 2.0, 4.0, 4.0]
    """
    if initial_s <= 0 or factor < 1 or max_s < initial_s or not 0 <= jitter <= 1:
        raise ValueError("need initial_s > 0, factor >= 1, max_s >= initial_s and 0 <= jitter <= 1")
    delay = initial_s
    while True:
        yield delay * (1.0 - jitter * rng.random())
        delay = min(delay * factor, max_s)


@dataclass
class RetryBudget:
    """Consecutive-failure counter around :func:`backoff_delays`; ``success()`` resets it.

    Parameters
    ----------
    max_retries:
        Consecutive failures allowed; None = retry forever.
    """

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.2
    max_retries: int | None = 10
    seed: int = 0
    failures: int = 0
    total_failures: int = 0
    _delays: Iterator[float] | None = field(default=None, repr=False)

    def next_delay(self, reason: str) -> float:
        """Count a failure and return the delay before the next attempt.

        Raises
        ------
        RetriesExhausted
            When ``max_retries`` consecutive failures have happened.
        """
        self.failures += 1
        self.total_failures += 1
        if self.max_retries is not None and self.failures > self.max_retries:
            raise RetriesExhausted(f"gave up after {self.max_retries} consecutive failures (last: {reason})")
        if self._delays is None:
            self._delays = backoff_delays(self.initial_s, self.factor, self.max_s, self.jitter,
                                          random.Random(self.seed + self.failures))
        return next(self._delays)

    def success(self) -> None:
        """Reset after a successful attempt."""
        self.failures = 0
        self._delays = None


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    budget: RetryBudget,
    *,
    retryable: tuple[type[BaseException], ...],
    sleep: Callable[[float], Awaitable[None]],
    retry_after_s: Callable[[BaseException], float | None] = lambda exc: None,
    what: str = "call",
) -> T:
    """Await ``call()`` until it succeeds, sleeping a backoff delay (or the server's Retry-After) between tries.

    Only ``retryable`` errors are retried; anything else propagates at once.

    Raises
    ------
    RetriesExhausted
        When the budget runs out (chained from the last error).
    """
    while True:
        try:
            result = await call()
        except retryable as exc:
            try:
                delay = budget.next_delay(f"{what}: {type(exc).__name__}")
            except RetriesExhausted as gave_up:
                raise gave_up from exc
            hinted = retry_after_s(exc)
            if hinted is not None:
                delay = max(delay, hinted)
            logger.warning("%s failed (%s: %.120s); retry %d in %.2f s", what, type(exc).__name__, exc,
                           budget.failures, delay)
            await sleep(delay)
            continue
        budget.success()
        return result
