"""Circuit breaker: guide semantics, ratio mode, slow calls, listeners, and a model-based test."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from seawall.resilience import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    ResilienceEvent,
)
from seawall.testing import FakeClock


def boom() -> None:
    raise ConnectionError("down")


def fail_n(breaker: CircuitBreaker, n: int) -> None:
    for _ in range(n):
        with pytest.raises(ConnectionError):
            breaker.execute(boom)


def test_guide_defaults_and_twin_behaviour() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock)
    assert breaker.failure_threshold == 5 and breaker.reset_timeout_s == 30.0
    assert breaker.state is CircuitState.CLOSED
    fail_n(breaker, 4)
    assert breaker.state is CircuitState.CLOSED
    fail_n(breaker, 1)
    assert breaker.state is CircuitState.OPEN
    calls = []
    with pytest.raises(CircuitOpenError, match="Circuit breaker is open") as info:  # the guide's
        breaker.execute(lambda: calls.append(1))
    assert calls == []  # fn is not called while open
    assert info.value.retry_after == pytest.approx(30.0)
    assert info.value.name == "breaker"
    assert "('breaker')" in str(info.value) and "30.0 s more" in str(info.value)
    clock.advance(29.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.execute(lambda: None)
    assert info.value.retry_after == pytest.approx(1.0)
    clock.advance(1.0)
    assert breaker.execute(lambda: "probe ok") == "probe ok"
    assert breaker.state is CircuitState.CLOSED


async def test_async_execute_returns_an_awaitable_and_a_failed_probe_reopens() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_ms=1000, clock=clock)

    async def failing() -> None:
        raise TimeoutError("slow upstream")

    async def fine() -> str:
        return "fine"

    for _ in range(2):
        with pytest.raises(TimeoutError):
            await breaker.execute(failing)
    assert breaker.state is CircuitState.OPEN
    clock.advance(1.0)
    with pytest.raises(TimeoutError):
        await breaker.execute(failing)  # the probe fails
    assert breaker.state is CircuitState.OPEN
    clock.advance(1.0)
    assert await breaker.execute(fine) == "fine"
    assert breaker.state is CircuitState.CLOSED


def test_success_resets_consecutive_count_and_predicate_filters_failures() -> None:
    breaker = CircuitBreaker(
        failure_threshold=2, is_failure=lambda e: not isinstance(e, KeyError), clock=FakeClock()
    )
    fail_n(breaker, 1)
    breaker.execute(lambda: None)
    fail_n(breaker, 1)
    assert breaker.state is CircuitState.CLOSED

    def missing() -> None:
        raise KeyError("not found")

    for _ in range(5):
        with pytest.raises(KeyError):
            breaker.execute(missing)
    assert breaker.state is CircuitState.CLOSED


def test_ratio_mode_needs_minimum_calls_and_uses_a_sliding_window() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        mode="ratio", failure_rate_threshold=0.5, window_s=10.0, minimum_calls=4, clock=clock
    )
    fail_n(breaker, 3)  # 100% failures but below the minimum throughput
    assert breaker.state is CircuitState.CLOSED
    clock.advance(11.0)  # those failures slide out of the window
    for _ in range(3):
        breaker.execute(lambda: None)
    fail_n(breaker, 1)  # 1/4 = 25%
    assert breaker.state is CircuitState.CLOSED
    fail_n(breaker, 2)  # 3/6 = 50%
    assert breaker.state is CircuitState.OPEN


def test_slow_calls_count_as_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, slow_call_s=1.0, clock=clock)
    for _ in range(2):
        breaker.execute(lambda: clock.advance(1.5))
    assert breaker.state is CircuitState.OPEN


def test_listeners_hear_transitions_and_reset_closes() -> None:
    clock = FakeClock()
    events: list[ResilienceEvent] = []
    breaker = CircuitBreaker(
        failure_threshold=1, reset_timeout_ms=500, name="payments", clock=clock
    )
    breaker.add_listener(events.append)
    fail_n(breaker, 1)
    clock.advance(0.5)
    breaker.execute(lambda: None)
    transitions = [(e.from_state, e.to_state) for e in events if e.kind == "breaker_transition"]
    assert transitions == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]
    assert all(e.policy == "payments" for e in events)
    breaker.trip()
    assert breaker.state is CircuitState.OPEN
    breaker.reset()
    assert breaker.state is CircuitState.CLOSED


def test_a_cancelled_probe_frees_its_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_ms=0, clock=clock)
    fail_n(breaker, 1)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.execute(interrupted)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.execute(lambda: 1) == 1  # a new probe is admitted
    assert breaker.state is CircuitState.CLOSED


def test_bad_configuration_is_rejected_with_clear_errors() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="mode"):
        CircuitBreaker(mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="half_open_max_calls"):
        CircuitBreaker(half_open_max_calls=0)


# -- model-based test ---------------------------------------------------------------------------

THRESHOLD = 3
RESET_S = 10.0
PROBES = 2


@dataclass
class Held:
    ticket: int
    generation: int


@dataclass
class Model:
    """The breaker as a reference model: plain fields, no locks, no windows."""

    now: float = 0.0
    state: str = "CLOSED"
    failures: int = 0
    opened_at: float = 0.0
    in_flight: int = 0
    successes: int = 0
    generation: int = 0
    held: list[Held] = field(default_factory=list)

    def move(self, state: str) -> None:
        self.state = state
        self.generation += 1
        self.failures = self.in_flight = self.successes = 0
        if state == "OPEN":
            self.opened_at = self.now

    def admit(self) -> float | None:
        """None when admitted, else the retry_after of the rejection."""
        if self.state == "OPEN":
            wait = self.opened_at + RESET_S - self.now
            if wait > 0:
                return wait
            self.move("HALF_OPEN")
        if self.state == "HALF_OPEN":
            if self.in_flight >= PROBES:
                return 0.0
            self.in_flight += 1
        return None

    def outcome(self, held: Held, ok: bool) -> None:
        if held.generation != self.generation:
            return
        if self.state == "CLOSED":
            if ok:
                self.failures = 0
            else:
                self.failures += 1
                if self.failures >= THRESHOLD:
                    self.move("OPEN")
        elif self.state == "HALF_OPEN":
            if ok:
                self.in_flight -= 1
                self.successes += 1
                if self.successes >= PROBES:
                    self.move("CLOSED")
            else:
                self.move("OPEN")


class BreakerMachine(RuleBasedStateMachine):
    """Random interleavings of admissions, outcomes and time, checked against the model."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=0.0)
        self.breaker = CircuitBreaker(
            failure_threshold=THRESHOLD,
            reset_timeout_ms=RESET_S * 1000,
            half_open_max_calls=PROBES,
            clock=self.clock,
        )
        self.model = Model()

    @rule(seconds=st.sampled_from([0.5, 3.0, 9.99, 10.0, 25.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.model.now += seconds

    @rule()
    def start_call(self) -> None:
        expected = self.model.admit()
        try:
            ticket = self.breaker.acquire()
        except CircuitOpenError as exc:
            assert expected is not None, "the breaker rejected a call the model admits"
            assert exc.retry_after == pytest.approx(expected)
            return
        assert expected is None, "the breaker admitted a call the model rejects"
        self.model.held.append(Held(ticket, self.model.generation))

    @precondition(lambda self: bool(self.model.held))
    @rule(index=st.integers(min_value=0, max_value=50), ok=st.booleans())
    def finish_call(self, index: int, ok: bool) -> None:
        held = self.model.held.pop(index % len(self.model.held))
        if ok:
            self.breaker.on_success(held.ticket)
        else:
            self.breaker.on_error(held.ticket, ConnectionError("down"))
        self.model.outcome(held, ok)

    @rule(ok=st.booleans())
    def whole_call(self, ok: bool) -> None:
        self.start_call()
        if self.model.held and self.model.held[-1].generation == self.model.generation:
            self.finish_call(len(self.model.held) - 1, ok)

    @invariant()
    def states_agree(self) -> None:
        assert self.breaker.state.value == self.model.state
        if self.model.state == "CLOSED":
            assert self.breaker.failure_count == self.model.failures


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestBreakerModel = BreakerMachine.TestCase
