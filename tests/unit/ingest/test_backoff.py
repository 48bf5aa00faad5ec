"""Backoff properties: delays non-decreasing and capped; the retry budget resets and runs out."""

from __future__ import annotations

import asyncio
import random
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.backoff import RetryBudget, backoff_delays, call_with_retries
from cluster.errors import RateLimited, RetriesExhausted


@given(st.floats(0.01, 5), st.floats(1, 4), st.floats(5, 120), st.integers(0, 2**16))
def test_delays_non_decreasing_and_capped_without_jitter(initial: float, factor: float, cap: float,
                                                         seed: int) -> None:
    gen = backoff_delays(initial, factor, cap, 0.0, random.Random(seed))
    delays = [next(gen) for _ in range(30)]
    assert all(a <= b for a, b in pairwise(delays))
    assert max(delays) <= cap


@given(st.floats(0, 1), st.integers(0, 2**16))
def test_jitter_only_shortens(jitter: float, seed: int) -> None:
    plain = backoff_delays(1.0, 2.0, 30.0, 0.0, random.Random(seed))
    jittered = backoff_delays(1.0, 2.0, 30.0, jitter, random.Random(seed))
    for _ in range(20):
        a, b = next(plain), next(jittered)
        assert a * (1 - jitter) - 1e-12 <= b <= a


def test_budget_resets_after_success_and_runs_out() -> None:
    budget = RetryBudget(max_retries=2)
    budget.next_delay("a")
    budget.next_delay("b")
    budget.success()
    budget.next_delay("c")
    budget.next_delay("d")
    with pytest.raises(RetriesExhausted):
        budget.next_delay("e")
    assert budget.total_failures == 5


def test_call_with_retries_honours_retry_after_and_retries_only_transient() -> None:
    slept: list[float] = []
    calls = {"n": 0}

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise RateLimited("slow down", retry_after_s=7.0)
        return "ok"

    async def sleep(s: float) -> None:
        slept.append(s)

    def hint(exc: BaseException) -> float | None:
        return getattr(exc, "retry_after_s", None)

    out = asyncio.run(call_with_retries(flaky, RetryBudget(jitter=0.0), retryable=(RateLimited,), sleep=sleep,
                                        retry_after_s=hint))
    assert out == "ok" and slept == [7.0, 7.0]

    async def broken() -> str:
        raise ValueError("not transient")

    with pytest.raises(ValueError):
        asyncio.run(call_with_retries(broken, RetryBudget(), retryable=(RateLimited,), sleep=sleep))
