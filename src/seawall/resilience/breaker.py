"""Circuit breaker: stops calling a failing dependency, then lets exactly N probes test it.

Trip modes: `"consecutive"` (the guide's failureThreshold) or `"ratio"` (failure rate over a
sliding time window once `minimum_calls` were seen). Optional slow-call counting. Half-open admits
`half_open_max_calls` probes, across threads and tasks alike; every other caller gets
CircuitOpenError at once. A threading.Lock guards only the tiny state transitions: no lock is held
while the user's call runs, and a closed breaker's success path takes no lock at all.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar, overload

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.resilience import events as ev
from seawall.resilience.breaker_store import (
    BreakerRecord,
    BreakerStore,
    CircuitState,
    CoordinatedBreakerStore,
    InMemoryBreakerStore,
)
from seawall.resilience.calls import is_coroutine_function
from seawall.resilience.errors import CircuitOpenError
from seawall.resilience.events import ResilienceEvent, ResilienceListener, emit

__all__ = ["CircuitBreaker", "CircuitState"]

T = TypeVar("T")
_BUCKETS = 10
_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN


class CircuitBreaker:
    """The guide's `CircuitBreaker(failure_threshold=5, reset_timeout_ms=30000)`, and more.

    `execute(fn)` runs a sync fn and returns its value, or returns an awaitable for an async fn.
    `is_failure(exc)` decides which errors count (default: every Exception; cancellation and other
    BaseExceptions never count). `is_failure_result(value)` can count results as failures too.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_ms: float = 30000,
        *,
        mode: Literal["consecutive", "ratio"] = "consecutive",
        failure_rate_threshold: float = 0.5,
        window_s: float = 60.0,
        minimum_calls: int = 10,
        slow_call_s: float | None = None,
        half_open_max_calls: int = 1,
        is_failure: Callable[[BaseException], bool] | None = None,
        is_failure_result: Callable[[Any], bool] | None = None,
        name: str = "breaker",
        clock: Clock = SYSTEM_CLOCK,
        store: BreakerStore | None = None,
        listeners: Sequence[ResilienceListener] = (),
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1 (got {failure_threshold})")
        if reset_timeout_ms < 0:
            raise ValueError(f"reset_timeout_ms must be >= 0 (got {reset_timeout_ms})")
        if mode not in ("consecutive", "ratio"):
            raise ValueError(f"mode must be 'consecutive' or 'ratio' (got {mode!r})")
        if not 0.0 < failure_rate_threshold <= 1.0:
            raise ValueError(
                f"failure_rate_threshold must be in (0, 1] (got {failure_rate_threshold})"
            )
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0 (got {window_s})")
        if minimum_calls < 1:
            raise ValueError(f"minimum_calls must be >= 1 (got {minimum_calls})")
        if half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be >= 1 (got {half_open_max_calls})")
        if slow_call_s is not None and slow_call_s <= 0:
            raise ValueError(f"slow_call_s must be > 0 (got {slow_call_s})")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_ms / 1000.0
        self.mode = mode
        self.failure_rate_threshold = failure_rate_threshold
        self.window_s = window_s
        self.minimum_calls = minimum_calls
        self.slow_call_s = slow_call_s
        self.half_open_max_calls = half_open_max_calls
        self.is_failure = is_failure
        self.is_failure_result = is_failure_result
        self.name = name
        self.clock = clock
        self.store: BreakerStore = store if store is not None else InMemoryBreakerStore()
        self.listeners: list[ResilienceListener] = list(listeners)
        self.counts_every_call = mode == "ratio"
        """True in ratio mode, where successes count too (the window needs them): a named
        contract for Pipeline's fast path, which skips `on_success` only when this is False."""
        self._bucket_s = window_s / _BUCKETS
        self.record: BreakerRecord = self.store.record(name)
        """The state this breaker reads and changes (shared with `sharing_state` views and, for a
        shared store, other breakers of the same name): a named contract for Pipeline's fast
        path, which reads `record.state` and `record.failures` without a call."""
        self._lock = threading.Lock()
        self._shared: CoordinatedBreakerStore | None = None
        if isinstance(self.store, CoordinatedBreakerStore):
            self._shared = self.store
            self.store.attach(self)

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state.value})"

    # -- inspection and control ----------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state (OPEN stays OPEN until a call arrives after the reset timeout)."""
        return self.record.state

    @property
    def failure_count(self) -> int:
        """Consecutive failures counted while closed."""
        return self.record.failures

    def add_listener(self, listener: ResilienceListener) -> None:
        """Hear about transitions and rejections of this breaker."""
        self.listeners.append(listener)

    def sharing_state(
        self, *, is_failure: Callable[[BaseException], bool] | None
    ) -> CircuitBreaker:
        """A breaker with another failure rule over this one's state, lock and listeners.

        Both trip, half-open and close together; this breaker's own settings stay untouched (how
        the HTTP client applies its failure rule to a breaker the caller passed in).
        """
        view = copy.copy(self)
        view.is_failure = is_failure
        return view

    def reset(self) -> None:
        """Force the breaker CLOSED with clean counters."""
        with self._lock:
            event = self._transition(_CLOSED, self.clock.monotonic(), "reset")
        self._publish(event)

    def trip(self) -> None:
        """Force the breaker OPEN now (for maintenance or tests)."""
        with self._lock:
            event = self._transition(_OPEN, self.clock.monotonic(), "forced")
        self._publish(event)

    def adopt(
        self,
        state: CircuitState,
        opened_at: float,
        reason: str,
        *,
        if_generation: int | None = None,
    ) -> bool:
        """Take on a state decided elsewhere (a shared store's fleet-wide view).

        A named contract for `CoordinatedBreakerStore` implementations: `opened_at` is on this
        breaker's clock (`clock.monotonic()`); counters and probes start clean, as after any
        transition, but the store is not told (`saved` is not called: the state came from it).
        Adopting OPEN over OPEN only moves `opened_at`. With `if_generation`, nothing happens
        unless `record.generation` still equals it (the breaker did not move meanwhile).
        Returns True when the state changed.
        """
        rec = self.record
        with self._lock:
            if if_generation is not None and rec.generation != if_generation:
                return False
            if rec.state is state:
                if state is _OPEN:
                    rec.opened_at = opened_at
                return False
            event = self._transition(state, self.clock.monotonic(), reason, publish=False)
            if state is _OPEN:
                rec.opened_at = opened_at
        self._publish(event)
        return True

    # -- the admission and outcome protocol (what Pipeline uses) -----------------------------

    def acquire(self) -> int:
        """Admit one call or raise CircuitOpenError; returns a ticket for the outcome methods."""
        rec = self.record
        generation = rec.generation
        if rec.state is _CLOSED:
            return generation
        event = None
        with self._lock:
            now = self.clock.monotonic()
            if rec.state is _CLOSED:
                return rec.generation
            if rec.state is _OPEN:
                wait = rec.opened_at + self.reset_timeout_s - now
                if wait > 0.0:
                    rejection: CircuitOpenError | None = CircuitOpenError(self.name, wait)
                else:
                    rejection = None
                    event = self._transition(_HALF_OPEN, now, "reset timeout elapsed")
            else:
                rejection = None
            if rejection is None:
                if rec.probes_in_flight >= self.half_open_max_calls:
                    rejection = CircuitOpenError(self.name, 0.0)
                else:
                    rec.probes_in_flight += 1
                    ticket = rec.generation
        self._publish(event)
        shared = self._shared
        if rejection is None and shared is not None and not shared.admit_probe(self.name):
            # The fleet's probes are taken: give back the local slot reserved above.
            with self._lock:
                if rec.generation == ticket and rec.state is _HALF_OPEN:
                    rec.probes_in_flight -= 1
            rejection = CircuitOpenError(self.name, 0.0)
        if rejection is not None:
            if self.listeners:
                emit(
                    self.listeners,
                    ResilienceEvent(
                        ev.BREAKER_REJECTED,
                        self.name,
                        error=rejection,
                        fields={"retry_after_s": round(rejection.retry_after, 6)},
                    ),
                )
            raise rejection
        return ticket

    def on_success(self, ticket: int, duration: float = 0.0) -> None:
        """Record that the call admitted with `ticket` succeeded (after `duration` seconds)."""
        slow = self.slow_call_s
        if slow is not None and duration >= slow:
            self._failed(ticket, "slow call")
            return
        rec = self.record
        shared = self._shared
        if rec.state is _CLOSED and not self.counts_every_call:
            if rec.failures and rec.generation == ticket:
                with self._lock:
                    cleared = rec.generation == ticket and rec.failures > 0
                    if cleared:
                        rec.failures = 0
                if cleared and shared is not None:
                    shared.outcome(self.name, False)
            return
        event = None
        counted = probed = False
        with self._lock:
            if rec.generation != ticket:
                return
            if rec.state is _CLOSED:
                self._count(rec, failed=False)
                counted = True
            elif rec.state is _HALF_OPEN:
                rec.probes_in_flight -= 1
                rec.probe_successes += 1
                probed = True
                if rec.probe_successes >= self.half_open_max_calls:
                    event = self._transition(_CLOSED, self.clock.monotonic(), "probes succeeded")
        self._publish(event)
        if shared is not None:
            if counted:
                shared.outcome(self.name, False)
            elif probed:
                shared.probe_finished(self.name, "success")

    def on_error(self, ticket: int, exc: BaseException, duration: float = 0.0) -> None:
        """Record that the admitted call raised `exc`; counts only if it is a failure."""
        if not isinstance(exc, Exception):
            self.on_release(ticket)
            return
        is_failure = self.is_failure
        if is_failure is None or is_failure(exc):
            self._failed(ticket, type(exc).__name__)
        else:
            self.on_success(ticket, duration)

    def on_result(self, ticket: int, result: Any, duration: float = 0.0) -> None:
        """Record a returned value: a failure when `is_failure_result(result)`, else a success."""
        check = self.is_failure_result
        if check is not None and check(result):
            self._failed(ticket, "failure result")
        else:
            self.on_success(ticket, duration)

    def on_release(self, ticket: int) -> None:
        """The admitted call ended without a verdict (cancelled): free its probe slot, if any."""
        rec = self.record
        if rec.state is not _HALF_OPEN:
            return
        with self._lock:
            released = rec.generation == ticket and rec.state is _HALF_OPEN
            if released:
                rec.probes_in_flight -= 1
        if released and self._shared is not None:
            self._shared.probe_finished(self.name, "released")

    # -- running calls -------------------------------------------------------------------------

    @overload
    def execute(
        self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> Awaitable[T]: ...
    @overload
    def execute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...
    def execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn` through the breaker: a value for sync fn, an awaitable for async fn."""
        if is_coroutine_function(fn):
            return self.execute_async(fn, *args, **kwargs)
        return self.call(fn, *args, **kwargs)

    async def execute_async(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await `fn(*args, **kwargs)` through the breaker."""
        ticket = self.acquire()
        timed = self.slow_call_s is not None
        start = self.clock.monotonic() if timed else 0.0
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self.on_error(ticket, exc, self.clock.monotonic() - start if timed else 0.0)
            raise
        self.on_result(ticket, result, self.clock.monotonic() - start if timed else 0.0)
        return result

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the sync `fn(*args, **kwargs)` through the breaker."""
        ticket = self.acquire()
        timed = self.slow_call_s is not None
        start = self.clock.monotonic() if timed else 0.0
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self.on_error(ticket, exc, self.clock.monotonic() - start if timed else 0.0)
            raise
        self.on_result(ticket, result, self.clock.monotonic() - start if timed else 0.0)
        return result

    # -- internals (called with the lock held, except _failed and _publish) --------------------

    def _failed(self, ticket: int, reason: str) -> None:
        rec = self.record
        event = None
        probed = counted = False
        with self._lock:
            if rec.generation != ticket:
                return
            now = self.clock.monotonic()
            if rec.state is _HALF_OPEN:
                rec.probes_in_flight -= 1
                probed = True
                event = self._transition(_OPEN, now, f"probe failed ({reason})")
            elif rec.state is _CLOSED:
                counted = True
                if self.counts_every_call:
                    calls, failures = self._count(rec, failed=True, now=now)
                    if (
                        calls >= self.minimum_calls
                        and failures / calls >= self.failure_rate_threshold
                    ):
                        event = self._transition(
                            _OPEN, now, f"failure rate {failures}/{calls} ({reason})"
                        )
                else:
                    rec.failures += 1
                    if rec.failures >= self.failure_threshold:
                        event = self._transition(
                            _OPEN, now, f"{rec.failures} consecutive failures ({reason})"
                        )
        self._publish(event)
        shared = self._shared
        if shared is not None:
            if probed:
                shared.probe_finished(self.name, "failure")
            elif counted:
                shared.outcome(self.name, True)

    def _count(
        self, rec: BreakerRecord, *, failed: bool, now: float | None = None
    ) -> tuple[int, int]:
        """Add one outcome to the sliding window; return (calls, failures) inside the window."""
        if now is None:
            now = self.clock.monotonic()
        period = int(now // self._bucket_s)
        slot = period % _BUCKETS
        if rec.epochs[slot] != period:
            rec.epochs[slot] = period
            rec.calls[slot] = 0
            rec.window_failures[slot] = 0
        rec.calls[slot] += 1
        if failed:
            rec.window_failures[slot] += 1
        oldest = period - _BUCKETS
        calls = failures = 0
        for i in range(_BUCKETS):
            if rec.epochs[i] > oldest:
                calls += rec.calls[i]
                failures += rec.window_failures[i]
        return calls, failures

    def _transition(
        self, to: CircuitState, now: float, reason: str, *, publish: bool = True
    ) -> ResilienceEvent | None:
        rec = self.record
        before = rec.state
        rec.state = to
        rec.generation += 1
        rec.failures = 0
        rec.probes_in_flight = 0
        rec.probe_successes = 0
        if to is _OPEN:
            rec.opened_at = now
        if to is not _HALF_OPEN:
            for i in range(_BUCKETS):
                rec.epochs[i] = -1
                rec.calls[i] = 0
                rec.window_failures[i] = 0
        if publish:
            self.store.saved(self.name, rec)
        if before is to and to is _CLOSED:
            return None
        return ResilienceEvent(
            ev.BREAKER_TRANSITION,
            self.name,
            from_state=before.value,
            to_state=to.value,
            fields={"reason": reason},
        )

    def _publish(self, event: ResilienceEvent | None) -> None:
        if event is not None and self.listeners:
            emit(self.listeners, event)
