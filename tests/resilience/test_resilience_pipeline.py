"""Pipeline and Deadline: order of policies, time left, cancellation, fallback, variants."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from seawall.resilience import (
    AttemptTimeout,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Constant,
    Deadline,
    DeadlineExceeded,
    Fallback,
    LoggingListener,
    NoTimeLeft,
    Pipeline,
    RateLimited,
    RateLimiter,
    ResilienceEvent,
    Retry,
    time_left,
)
from seawall.testing import FakeClock


def test_time_left_is_none_without_a_deadline_and_nested_deadlines_take_the_min() -> None:
    clock = FakeClock()
    assert time_left() is None
    with Deadline(10.0, clock=clock):
        assert time_left() == pytest.approx(10.0)
        clock.advance(4.0)
        with Deadline(30.0, clock=clock):
            assert time_left() == pytest.approx(6.0)
        with Deadline(2.0, clock=clock):
            assert time_left() == pytest.approx(2.0)
        assert time_left() == pytest.approx(6.0)
        clock.advance(10.0)
        assert time_left() == 0.0
    assert time_left() is None


def test_each_attempt_sees_min_of_its_timeout_and_the_time_left() -> None:
    clock = FakeClock()
    seen: list[float | None] = []

    def call() -> None:
        seen.append(time_left())
        clock.advance(1.0)
        raise ConnectionError("down")

    pipeline = Pipeline(
        retry=Retry(4, backoff=Constant(1.0)), deadline=6.0, attempt_timeout=2.5, clock=clock
    )
    with pytest.raises(DeadlineExceeded) as info:
        pipeline.execute(call)
    # attempts at t=0, 2, 4: 2.5 caps the first two, then only 2 s are left
    assert seen == pytest.approx([2.5, 2.5, 2.0])
    assert isinstance(info.value.__cause__, ConnectionError)


async def test_async_attempt_is_cancelled_at_the_deadline_and_counts_as_breaker_failure() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    pipeline = Pipeline(deadline=0.02, breaker=breaker, clock=clock)
    hang = asyncio.Event()
    with pytest.raises(DeadlineExceeded):
        await pipeline.execute_async(hang.wait)
    assert breaker.state is CircuitState.OPEN
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_attempt_timeout_is_retried_within_the_deadline() -> None:
    clock = FakeClock()
    calls = 0

    async def first_hangs() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()
        return "second try"

    pipeline = Pipeline(
        retry=Retry(3, backoff=Constant(0.0), retry_on=(AttemptTimeout,)),
        deadline=5.0,
        attempt_timeout=0.01,
        clock=clock,
    )
    assert await pipeline.execute_async(first_hangs) == "second try"
    assert calls == 2


async def test_async_with_deadline_cancels_the_block_and_outside_cancellation_stays() -> None:
    with pytest.raises(DeadlineExceeded):
        async with Deadline(0.01):
            await asyncio.Event().wait()

    pipeline = Pipeline(deadline=30.0)
    task = asyncio.create_task(pipeline.execute_async(asyncio.Event().wait))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_fallback_answers_open_breaker_and_exceeded_deadline() -> None:
    clock = FakeClock()
    events: list[ResilienceEvent] = []
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    breaker.trip()
    pipeline = Pipeline(
        "catalog",
        fallback=Fallback({"items": []}),
        breaker=breaker,
        clock=clock,
        listeners=[events.append],
    )
    assert pipeline.execute(lambda: {"items": [1]}) == {"items": []}
    assert [e.kind for e in events] == ["fallback"]
    assert isinstance(events[0].error, CircuitOpenError)

    only_timeouts = Pipeline(fallback=Fallback("stale", on=(DeadlineExceeded,)), clock=clock)
    with pytest.raises(ValueError):
        only_timeouts.execute(lambda: (_ for _ in ()).throw(ValueError("bad")))


async def test_async_fallback_factory_receives_the_error() -> None:
    async def cached(exc: BaseException) -> str:
        return f"cached because {type(exc).__name__}"

    async def down() -> str:
        raise ConnectionError("down")

    pipeline = Pipeline(fallback=Fallback(factory=cached), clock=FakeClock())
    assert await pipeline.execute_async(down) == "cached because ConnectionError"


def test_retry_honours_an_open_breakers_retry_after() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_ms=2000, clock=clock)
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("down")
        return "up"

    pipeline = Pipeline(retry=Retry(3, backoff=Constant(0.1)), breaker=breaker, clock=clock)
    assert pipeline.execute(call) == "up"
    # failure opened the breaker; the retry waited 0.1 s, was rejected with retry_after 1.9 s,
    # waited that long, and the probe succeeded
    assert clock.slept == pytest.approx([0.1, 1.9])
    assert breaker.state is CircuitState.CLOSED


def test_rate_limiter_waits_on_the_clock_or_rejects() -> None:
    clock = FakeClock()
    waiting = Pipeline(rate_limiter=RateLimiter(10.0, burst=1, max_wait_s=1.0, clock=clock))
    for _ in range(3):
        waiting.execute(lambda: None)
    assert clock.slept == pytest.approx([0.1, 0.1])
    strict = RateLimiter(2.0, burst=1, max_wait_s=0.0, name="api", clock=clock)
    strict.acquire()
    with pytest.raises(RateLimited) as info:
        strict.acquire()
    assert info.value.retry_after == pytest.approx(0.5)


async def test_wrap_picks_sync_or_async_and_replace_swaps_policies() -> None:
    clock = FakeClock()
    pipeline = Pipeline("base", retry=Retry(2, backoff=Constant(0.0)), deadline=5.0, clock=clock)

    @pipeline
    async def async_fn(x: int) -> int:
        assert time_left() == pytest.approx(5.0)
        return x * 2

    @pipeline.wrap
    def sync_fn(x: int) -> int:
        return x + 1

    assert await async_fn(4) == 8
    assert sync_fn(4) == 5
    quick = pipeline.replace(deadline=1.0, name="quick")
    assert quick.name == "quick" and quick.deadline_s == 1.0
    assert quick.retry is not None and quick.retry.max_attempts == 2
    assert pipeline.deadline_s == 5.0
    with pytest.raises(TypeError, match="unknown policies"):
        pipeline.replace(retires=None)
    with pytest.raises(TypeError, match="takes a Retry"):
        Pipeline(retry=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        Pipeline(deadline=0)


def test_logging_listener_writes_structured_fields(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    calls: list[int] = []

    def call() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("down")
        return 1

    pipeline = Pipeline(
        "orders", retry=Retry(3, backoff=Constant(0.5)), clock=clock, listeners=[LoggingListener()]
    )
    with caplog.at_level(logging.INFO, logger="seawall.resilience"):
        assert pipeline.execute(call) == 1
    record = caplog.records[0]
    facts: dict[str, Any] = record.seawall  # type: ignore[attr-defined]
    assert facts["event"] == "retry" and facts["policy"] == "orders"
    assert facts["attempt"] == 1 and facts["delay_s"] == 0.5
    assert facts["error_type"] == "ConnectionError"


def test_a_failing_listener_does_not_break_the_call() -> None:
    def broken(event: ResilienceEvent) -> None:
        raise RuntimeError("listener bug")

    calls: list[int] = []

    def call() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("down")
        return 1

    pipeline = Pipeline(retry=Retry(2, backoff=Constant(0)), clock=FakeClock(), listeners=[broken])
    assert pipeline.execute(call) == 1


@pytest.mark.parametrize("use_async", [False, True])
async def test_an_exhausted_deadline_calls_nothing_and_is_no_breaker_failure(
    use_async: bool,
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    pipeline = Pipeline(breaker=breaker, attempt_timeout=5.0, clock=clock)
    calls: list[int] = []

    async def async_call() -> None:
        calls.append(1)

    with Deadline(1.0, clock=clock):
        clock.advance(2.0)
        with pytest.raises(NoTimeLeft):
            if use_async:
                await pipeline.execute_async(async_call)
            else:
                pipeline.execute(lambda: calls.append(1))
    assert calls == []
    assert breaker.state is CircuitState.CLOSED
