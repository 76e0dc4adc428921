"""Retry: attempts, predicates, hooks, retry-after hints, deadlines and the retry budget."""

from __future__ import annotations

from typing import Any

import pytest

from seawall.resilience import (
    Constant,
    Deadline,
    DeadlineExceeded,
    ExponentialJitter,
    Pipeline,
    ResilienceEvent,
    Retry,
    RetryAfterTooLong,
    RetryBudget,
    RetryBudgetExhausted,
)
from seawall.testing import FakeClock


class Flaky:
    """Fails `failures` times with `error`, then returns `value`; counts calls."""

    def __init__(self, failures: int, error: BaseException | None = None, value: Any = "ok"):
        self.failures = failures
        self.error = error or ConnectionError("down")
        self.value = value
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.value

    async def call_async(self) -> Any:
        return self()


class Hinted(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"slow down ({retry_after})")
        self.retry_after = retry_after


def test_succeeds_after_transient_failures_and_sleeps_the_backoff() -> None:
    clock = FakeClock()
    flaky = Flaky(2)
    retry = Retry(max_attempts=3, backoff=Constant(0.25), clock=clock)
    assert retry.call(flaky) == "ok"
    assert flaky.calls == 3
    assert clock.slept == [0.25, 0.25]


async def test_async_gives_up_after_max_attempts_and_reraises_the_last_error() -> None:
    clock = FakeClock()
    flaky = Flaky(10)
    seen: list[tuple[int, float, Any]] = []
    gave_up: list[tuple[int, float, Any]] = []
    retry = Retry(
        max_attempts=4,
        backoff=Constant(1.0),
        clock=clock,
        on_retry=lambda *a: seen.append(a),
        on_give_up=lambda *a: gave_up.append(a),
    )
    with pytest.raises(ConnectionError):
        await retry.call_async(flaky.call_async)
    assert flaky.calls == 4
    assert [(a, d) for a, d, _ in seen] == [(1, 1.0), (2, 1.0), (3, 1.0)]
    assert all(isinstance(c, ConnectionError) for _, _, c in seen)
    assert gave_up[0][0] == 4 and isinstance(gave_up[0][2], ConnectionError)


def test_non_retryable_errors_pass_through_at_once() -> None:
    flaky = Flaky(5, error=ValueError("bad input"))
    retry = Retry(5, retry_on=(ConnectionError,), clock=FakeClock())
    with pytest.raises(ValueError):
        retry.call(flaky)
    assert flaky.calls == 1


def test_predicate_and_result_retries() -> None:
    clock = FakeClock()
    results = iter([503, 503, 200])
    retry = Retry(
        5,
        backoff=Constant(0.1),
        retry_on=lambda exc: "transient" in str(exc),
        retry_on_result=lambda status: status >= 500,
        clock=clock,
    )
    assert retry.call(lambda: next(results)) == 200
    assert len(clock.slept) == 2
    # when attempts run out on a result, the last result is returned
    assert Retry(2, backoff=Constant(0), retry_on_result=bool, clock=clock).call(lambda: 7) == 7


def test_retry_after_hint_raises_the_wait() -> None:
    clock = FakeClock()
    flaky = Flaky(1, error=Hinted(4.0))
    assert Retry(3, backoff=Constant(0.1), clock=clock).call(flaky) == "ok"
    assert clock.slept == [4.0]
    # a hint shorter than the backoff does not shorten it
    clock2 = FakeClock()
    assert Retry(3, backoff=Constant(2.0), clock=clock2).call(Flaky(1, error=Hinted(0.5))) == "ok"
    assert clock2.slept == [2.0]


async def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    clock = FakeClock()
    flaky = Flaky(5, error=Hinted(30.0))
    pipeline = Pipeline(retry=Retry(5, backoff=Constant(0.1)), deadline=10.0, clock=clock)
    with pytest.raises(RetryAfterTooLong) as info:
        await pipeline.execute_async(flaky.call_async)
    assert flaky.calls == 1
    assert clock.slept == []
    assert info.value.retry_after == 30.0
    assert info.value.time_left == pytest.approx(10.0)
    assert isinstance(info.value.__cause__, Hinted)
    assert isinstance(info.value, DeadlineExceeded)


def test_retries_never_sleep_past_the_deadline() -> None:
    clock = FakeClock()
    flaky = Flaky(100)
    retry = Retry(100, backoff=Constant(3.0), clock=clock)
    with Deadline(10.0, clock=clock), pytest.raises(DeadlineExceeded) as info:
        retry.call(flaky)
    # 3 waits of 3 s fit in 10 s; the 4th would end at 12 s
    assert clock.slept == [3.0, 3.0, 3.0]
    assert flaky.calls == 4
    assert isinstance(info.value.__cause__, ConnectionError)
    assert not isinstance(info.value, RetryAfterTooLong)


def test_budget_stops_a_retry_storm() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.1, min_retries_per_s=0.0, clock=clock)
    events: list[ResilienceEvent] = []
    retry = Retry(3, backoff=Constant(0.0), budget=budget, clock=clock, listeners=[events.append])
    ok = Flaky(0)
    for _ in range(20):  # 20 healthy calls earn 2 retries
        retry.call(ok)
    down = Flaky(1000)
    exhausted = 0
    for _ in range(10):
        try:
            retry.call(down)
        except RetryBudgetExhausted as exc:
            exhausted += 1
            assert isinstance(exc.__cause__, ConnectionError)
        except ConnectionError:
            pass
    # 10 failing calls; without a budget that is 20 retries. With it, only the 2 earned
    # (the 10 failing first attempts also earned 1 more).
    assert down.calls - 10 <= 3
    assert exhausted >= 8
    assert any(e.kind == "budget_exhausted" for e in events)


def test_budget_floor_refills_over_time() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_retries_per_s=2.0, clock=clock)
    assert budget.try_withdraw() and budget.try_withdraw()
    assert not budget.try_withdraw()
    clock.advance(0.5)
    assert budget.try_withdraw()
    assert not budget.try_withdraw()


def test_default_backoff_is_full_jitter_and_attempts_are_bounded() -> None:
    retry = Retry()
    assert isinstance(retry.backoff, ExponentialJitter)
    assert retry.max_attempts == 3
    with pytest.raises(ValueError, match="max_attempts"):
        Retry(0)
    with pytest.raises(TypeError, match="exception types"):
        Retry(retry_on=(int,))  # type: ignore[arg-type]


async def test_decorator_picks_sync_or_async() -> None:
    clock = FakeClock()
    retry = Retry(3, backoff=Constant(0.0), clock=clock)
    flaky = Flaky(1)

    @retry
    def sync_fn() -> str:
        return str(flaky())

    @retry
    async def async_fn() -> str:
        return str(flaky())

    assert sync_fn() == "ok"
    flaky.calls = 0
    assert await async_fn() == "ok"
    assert flaky.calls == 2
