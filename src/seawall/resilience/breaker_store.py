"""Where a circuit breaker keeps its state: a small store protocol and the in-memory store."""

from __future__ import annotations

import threading
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["BreakerRecord", "BreakerStore", "CircuitState", "InMemoryBreakerStore"]


class CircuitState(StrEnum):
    """The breaker's states, named as in the guide."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class BreakerRecord:
    """One breaker's mutable state; every field changes only under the breaker's lock.

    `generation` grows on every transition, so an outcome that started in an older state is
    recognised and ignored. The sliding window is `buckets` slots of counts, each tagged with
    the period (`epochs`) it counts for.
    """

    __slots__ = (
        "calls",
        "epochs",
        "failures",
        "generation",
        "opened_at",
        "probe_successes",
        "probes_in_flight",
        "state",
        "window_failures",
    )

    def __init__(self, buckets: int = 10) -> None:
        self.state = CircuitState.CLOSED
        self.generation = 0
        self.failures = 0
        self.opened_at = 0.0
        self.probes_in_flight = 0
        self.probe_successes = 0
        self.calls = [0] * buckets
        self.window_failures = [0] * buckets
        self.epochs = [-1] * buckets


@runtime_checkable
class BreakerStore(Protocol):
    """Gives each named breaker its record and hears about every state transition."""

    def record(self, name: str) -> BreakerRecord:
        """The live record for `name`, created CLOSED on first use."""
        ...

    def saved(self, name: str, record: BreakerRecord) -> None:
        """Called after each transition (a shared store would publish it here)."""
        ...


class InMemoryBreakerStore:
    """Process-local state (the default); a shared store can implement the same protocol."""

    def __init__(self) -> None:
        self._records: dict[str, BreakerRecord] = {}
        self._lock = threading.Lock()

    def record(self, name: str) -> BreakerRecord:
        """The record for `name`, created on first use."""
        with self._lock:
            rec = self._records.get(name)
            if rec is None:
                rec = self._records[name] = BreakerRecord()
            return rec

    def saved(self, name: str, record: BreakerRecord) -> None:
        """Nothing to publish: the record is already the shared object in this process."""

    def names(self) -> list[str]:
        """Names of the breakers this store holds."""
        with self._lock:
            return sorted(self._records)
