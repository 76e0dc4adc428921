"""Where a circuit breaker keeps its state: a small store protocol and the in-memory store."""

from __future__ import annotations

import threading
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from seawall.resilience.breaker import CircuitBreaker

__all__ = [
    "BreakerRecord",
    "BreakerStore",
    "CircuitState",
    "CoordinatedBreakerStore",
    "InMemoryBreakerStore",
    "ProbeOutcome",
]

ProbeOutcome = Literal["success", "failure", "released"]


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


@runtime_checkable
class CoordinatedBreakerStore(BreakerStore, Protocol):
    """A store that shares breaker state with other processes (see seawall.fleet).

    The breaker calls these hooks (a named contract); they must never block, except
    `admit_probe`, which a breaker calls only when its local view says a half-open probe may go.
    The breaker keeps deciding on its own record, so it works unchanged when the store cannot
    reach its backend; the store applies the shared state with `CircuitBreaker.adopt`.
    """

    def attach(self, breaker: CircuitBreaker) -> None:
        """Called once by a breaker built on this store (its settings and `adopt` are needed)."""
        ...

    def outcome(self, name: str, failed: bool) -> None:
        """An outcome counted while CLOSED: in consecutive mode every failure and the success
        that cleared local failures; in ratio mode every counted call."""
        ...

    def admit_probe(self, name: str) -> bool:
        """May this process send one half-open probe? False rejects the call."""
        ...

    def probe_finished(self, name: str, outcome: ProbeOutcome) -> None:
        """The verdict of a probe admitted by `admit_probe` (or its release without one)."""
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
