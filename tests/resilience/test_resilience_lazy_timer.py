"""The deadline timer armed only on suspension: results, cancellation, nesting and cleanup."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Generator
from typing import Any

import pytest

from seawall.resilience import DeadlineExceeded, Pipeline, time_left, watchdog
from seawall.resilience._resume import resume
from seawall.testing import FakeClock


@types.coroutine
def _ask(question: str) -> Generator[str, Any, Any]:
    return (yield question)


async def _two_questions() -> Any:
    first = await _ask("first?")
    try:
        second = await _ask("second?")
    except KeyError as exc:
        return f"handled {exc.args[0]}"
    return first + second


def test_resume_forwards_sent_values_throws_and_close() -> None:
    coro = _two_questions()
    rest = resume(coro, coro.send(None))
    assert rest.send(None) == "first?"
    assert rest.send(1) == "second?"
    with pytest.raises(StopIteration) as done:
        rest.send(2)
    assert done.value.value == 3

    coro = _two_questions()
    rest = resume(coro, coro.send(None))
    rest.send(None)
    with pytest.raises(ValueError, match="not handled"):
        rest.throw(ValueError("not handled"))

    coro = _two_questions()
    rest = resume(coro, coro.send(None))
    rest.send(None)
    assert rest.send(5) == "second?"
    with pytest.raises(StopIteration) as done:
        rest.throw(KeyError("boom"))
    assert done.value.value == "handled boom"

    coro = _two_questions()
    rest = resume(coro, coro.send(None))
    rest.send(None)
    rest.close()
    assert coro.cr_frame is None  # the callee was closed with the wrapper


async def test_a_callee_that_suspends_many_times_returns_its_value() -> None:
    clock = FakeClock()
    seen: list[float | None] = []

    async def chatty(n: int) -> int:
        for _ in range(n):
            await asyncio.sleep(0)
            seen.append(time_left())
        return n * 2

    pipeline = Pipeline(deadline=4.0, clock=clock)
    assert await pipeline.execute_async(chatty, 5) == 10
    assert seen == [4.0] * 5
    assert time_left() is None


async def test_the_callees_own_timeouts_still_work_through_the_pipeline() -> None:
    async def own_timeout() -> str:
        try:
            async with asyncio.timeout(0):
                await asyncio.Event().wait()
        except TimeoutError:
            return "callee timed out on its own"
        return "unreachable"

    pipeline = Pipeline(deadline=30.0)
    assert await pipeline.execute_async(own_timeout) == "callee timed out on its own"
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_a_plain_awaitable_is_cancelled_at_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[None]] = []

    def pending() -> asyncio.Future[None]:
        futures.append(loop.create_future())
        return futures[-1]

    with pytest.raises(DeadlineExceeded):
        await Pipeline(deadline=0.01).execute_async(pending)
    assert futures[0].cancelled()


async def test_time_spent_before_the_first_suspension_counts_against_the_deadline() -> None:
    async def slow_start() -> None:
        time.sleep(0.03)  # noqa: ASYNC251 -- blocks past the whole 10 ms budget, on purpose
        await asyncio.Event().wait()

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await Pipeline(deadline=0.01).execute_async(slow_start)
    assert time.monotonic() - started < 1.0  # cancelled at once, not 10 ms after suspending


async def test_nested_pipelines_see_the_tighter_deadline() -> None:
    clock = FakeClock()
    seen: list[float | None] = []

    async def leaf() -> None:
        seen.append(time_left())

    async def middle(inner: Pipeline) -> None:
        await inner.execute_async(leaf)
        seen.append(time_left())

    outer = Pipeline(deadline=2.0, clock=clock)
    await outer.execute_async(middle, Pipeline(deadline=5.0, clock=clock))
    await outer.execute_async(middle, Pipeline(deadline=1.0, clock=clock))
    assert seen == [2.0, 2.0, 1.0, 2.0]


async def test_finished_calls_leave_nothing_armed() -> None:
    async def suspends() -> int:
        await asyncio.sleep(0)
        return 1

    pipeline = Pipeline(deadline=30.0)
    results = await asyncio.gather(*(pipeline.execute_async(suspends) for _ in range(200)))
    assert sum(results) == 200
    timer = watchdog._BY_LOOP[asyncio.get_running_loop()]
    assert all(not bucket for bucket in timer.buckets.values())
