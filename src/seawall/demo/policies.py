"""A demonstration of the resilience policies against a flaky function, on a fake clock."""

from __future__ import annotations

import random
from collections import Counter

from rich.console import Console
from rich.table import Table

from seawall.resilience import (
    CircuitBreaker,
    CircuitOpenError,
    Constant,
    DeadlineExceeded,
    ExponentialJitter,
    Fallback,
    Pipeline,
    ResilienceEvent,
    Retry,
    RetryAfterTooLong,
    RetryBudget,
    RetryBudgetExhausted,
)
from seawall.testing import FakeClock

__all__ = ["run_resilience_demo"]


class UpstreamError(Exception):
    """What the flaky dependency raises; may carry the server's retry-after hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FlakyService:
    """A dependency that fails with probability `failure_rate`, or always while `down`."""

    def __init__(self, rng: random.Random, clock: FakeClock, failure_rate: float) -> None:
        self.rng = rng
        self.clock = clock
        self.failure_rate = failure_rate
        self.down = False
        self.calls = 0

    def __call__(self, item: int) -> str:
        self.calls += 1
        self.clock.advance(0.05)  # each call takes 50 ms of fake time
        if self.down or self.rng.random() < self.failure_rate:
            raise UpstreamError("503 Service Unavailable")
        return f"item-{item}"


def run_resilience_demo(console: Console | None = None, seed: int = 7) -> int:
    """Run retry, breaker, fallback, budget and deadline against a flaky function; print it."""
    console = console or Console()
    rng = random.Random(seed)
    clock = FakeClock(start=0.0)
    events: list[ResilienceEvent] = []
    service = FlakyService(rng, clock, failure_rate=0.4)

    console.rule("[bold]seawall resilience demo[/bold] (fake clock: nothing sleeps for real)")

    # 1. Retry with full jitter against a service failing 40% of the time.
    retry = Retry(4, backoff=ExponentialJitter(0.1, 2.0, seed=seed), retry_on=(UpstreamError,))
    pipeline = Pipeline(
        "catalog", retry=retry, deadline=5.0, clock=clock, listeners=[events.append]
    )
    table = Table(title="1. Retry: 4 attempts, full-jitter backoff, 5 s deadline")
    for column in ("call", "result", "attempts", "waits (s)"):
        table.add_column(column)
    for item in range(8):
        before_calls, before_sleeps = service.calls, len(clock.slept)
        try:
            outcome = pipeline.execute(service, item)
        except UpstreamError as exc:
            outcome = f"[red]gave up: {exc}[/red]"
        waits = ", ".join(f"{s:.3f}" for s in clock.slept[before_sleeps:]) or "-"
        table.add_row(str(item), str(outcome), str(service.calls - before_calls), waits)
    console.print(table)

    # 2. The dependency goes down: the breaker opens, callers fail fast, a probe closes it.
    breaker = CircuitBreaker(
        failure_threshold=3, reset_timeout_ms=2000, name="catalog", clock=clock
    )
    breaker.add_listener(events.append)
    guarded = Pipeline(
        "catalog-guarded",
        fallback=Fallback(factory=lambda exc: f"cached ({type(exc).__name__})"),
        breaker=breaker,
        clock=clock,
        listeners=[events.append],
    )
    service.down = True
    table = Table(title="2. Circuit breaker (3 failures, 2 s reset) with a cached fallback")
    for column in ("t (s)", "breaker before", "answer", "service called"):
        table.add_column(column)
    for step in range(10):
        if step == 7:
            service.down = False
            clock.advance(2.0)
        before = breaker.state.value
        before_calls = service.calls
        answer = guarded.execute(service, step)
        called = "yes" if service.calls > before_calls else "no (fail fast)"
        table.add_row(f"{clock.monotonic():.2f}", before, answer, called)
    console.print(table)

    # 3. A retry storm meets the retry budget.
    budget = RetryBudget(ratio=0.1, min_retries_per_s=1.0, clock=clock)
    stormy = Pipeline(
        "storm",
        retry=Retry(3, backoff=Constant(0.01), budget=budget, retry_on=(UpstreamError,)),
        clock=clock,
        listeners=[events.append],
    )
    service.down = True
    outcomes: Counter[str] = Counter()
    calls_before = service.calls
    for item in range(50):
        try:
            stormy.execute(service, item)
        except RetryBudgetExhausted:
            outcomes["stopped by the budget"] += 1
        except UpstreamError:
            outcomes["failed after retrying"] += 1
    made = service.calls - calls_before
    console.print(
        f"3. Retry budget: 50 failing calls made {made} upstream calls "
        f"(without a budget: 150); {dict(outcomes)}"
    )

    # 4. A server asks for more time than the deadline has left.
    service.down = False

    def throttled() -> str:
        raise UpstreamError("429 Too Many Requests", retry_after=30.0)

    try:
        Pipeline("throttled", retry=Retry(3), deadline=5.0, clock=clock).execute(throttled)
    except RetryAfterTooLong as exc:
        console.print(
            f"4. Deadline: server said retry after {exc.retry_after:.0f} s, "
            f"{exc.time_left:.1f} s left -> gave up at once ({type(exc).__name__})"
        )
    except (DeadlineExceeded, CircuitOpenError) as exc:  # pragma: no cover - not expected
        console.print(f"4. Deadline: {exc}")

    kinds = Counter(event.kind for event in events)
    summary = Table(title="Events reported to listeners")
    summary.add_column("event")
    summary.add_column("count", justify="right")
    for kind, count in sorted(kinds.items()):
        summary.add_row(kind, str(count))
    console.print(summary)
    transitions = [f"{e.from_state}->{e.to_state}" for e in events if e.to_state]
    console.print("Breaker transitions: " + (", ".join(transitions) or "none"))
    return 0
