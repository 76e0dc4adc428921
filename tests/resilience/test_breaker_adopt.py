"""CircuitBreaker.adopt: the contract a shared store uses to apply the fleet's state."""

from __future__ import annotations

import pytest

from seawall import CircuitBreaker, CircuitOpenError, CircuitState
from seawall.resilience.breaker_store import BreakerRecord, InMemoryBreakerStore
from seawall.testing import FakeClock


class _CountingStore(InMemoryBreakerStore):
    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    def saved(self, name: str, record: BreakerRecord) -> None:
        self.saves += 1


def test_adopt_open_uses_the_given_opened_at_and_does_not_publish() -> None:
    clock = FakeClock()
    store = _CountingStore()
    breaker = CircuitBreaker(3, 1000, clock=clock, store=store)
    events: list[object] = []
    breaker.add_listener(events.append)
    assert breaker.adopt(CircuitState.OPEN, clock.monotonic() - 0.4, "fleet state")
    assert store.saves == 0
    assert len(events) == 1
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.retry_after == pytest.approx(0.6)
    assert not breaker.adopt(CircuitState.OPEN, clock.monotonic() - 1.0, "fleet state")
    breaker.acquire()  # the moved opened_at ended the open period: a probe goes
    assert breaker.state is CircuitState.HALF_OPEN


def test_adopt_is_skipped_when_the_breaker_moved() -> None:
    breaker = CircuitBreaker(1, 1000, clock=FakeClock())
    generation = breaker.record.generation
    breaker.trip()
    assert not breaker.adopt(CircuitState.CLOSED, 0.0, "stale", if_generation=generation)
    assert breaker.state is CircuitState.OPEN
    assert breaker.adopt(
        CircuitState.CLOSED, 0.0, "fleet state", if_generation=breaker.record.generation
    )
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0
