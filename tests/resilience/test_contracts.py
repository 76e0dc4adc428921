"""The named fast-path contracts other modules rely on instead of private names.

- `deadline.ACTIVE_DEADLINE`: Pipeline and Retry read and set the active deadline directly;
- `CircuitBreaker.record` and `.counts_every_call`: Pipeline's closed-breaker fast path;
- `watchdog.arm_at` and `finish`: the HTTP transport ends a body read at its deadline.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from seawall.resilience import CircuitBreaker, CircuitState, Deadline
from seawall.resilience.breaker_store import InMemoryBreakerStore
from seawall.resilience.deadline import ACTIVE_DEADLINE, enter_deadline, exit_deadline, time_left
from seawall.resilience.watchdog import arm_at, finish
from seawall.testing import FakeClock


def test_active_deadline_holds_expiry_and_reader_inside_a_deadline_only() -> None:
    clock = FakeClock()
    assert ACTIVE_DEADLINE.get() is None
    with Deadline(5.0, clock=clock):
        active = ACTIVE_DEADLINE.get()
        assert active is not None
        expiry, now = active
        assert expiry - now() == pytest.approx(5.0) and time_left() == pytest.approx(5.0)
        clock.advance(2.0)
        assert expiry - now() == pytest.approx(3.0)
        token, left = enter_deadline(10.0, clock.monotonic)  # the sooner outer one wins
        assert left == pytest.approx(3.0)
        exit_deadline(token)
    assert ACTIVE_DEADLINE.get() is None


def test_breaker_record_is_the_shared_state_and_ratio_mode_counts_every_call() -> None:
    store = InMemoryBreakerStore()
    breaker = CircuitBreaker(failure_threshold=1, name="dep", store=store, clock=FakeClock())
    assert breaker.record is store.record("dep")
    assert breaker.counts_every_call is False
    breaker.trip()
    assert breaker.record.state is CircuitState.OPEN
    ratio = CircuitBreaker(mode="ratio", minimum_calls=5, name="r", clock=FakeClock())
    assert ratio.counts_every_call is True
    assert ratio.record.failures == 0


async def test_watchdog_cancels_at_the_expiry_and_finish_reports_it() -> None:
    guard = arm_at(time.monotonic() + 0.02)
    with pytest.raises(asyncio.CancelledError) as caught:
        await asyncio.sleep(5)
    assert finish(guard, caught.value) is True
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the cancel request was withdrawn
    early = arm_at(time.monotonic() + 5)
    await asyncio.sleep(0)
    assert finish(early, None) is False  # disarmed before it fired: nothing to report
