"""Concurrency: a half-open breaker admits exactly N probes; a bulkhead never exceeds its limit."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from seawall.resilience import (
    Bulkhead,
    BulkheadFull,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Pipeline,
)
from seawall.testing import FakeClock


def half_open_ready(probes: int) -> tuple[CircuitBreaker, FakeClock]:
    """A breaker that is OPEN with its reset timeout just elapsed: the next calls are probes."""
    clock = FakeClock()
    breaker = CircuitBreaker(
        failure_threshold=1, reset_timeout_ms=1000, half_open_max_calls=probes, clock=clock
    )
    breaker.trip()
    clock.advance(1.0)
    return breaker, clock


@pytest.mark.parametrize("probes", [1, 3])
async def test_1000_async_callers_admit_exactly_n_probes(probes: int) -> None:
    breaker, _ = half_open_ready(probes)
    pipeline = Pipeline("probe-test", breaker=breaker)
    release = asyncio.Event()
    entered = 0

    async def probe() -> str:
        nonlocal entered
        entered += 1
        await release.wait()
        return "healthy"

    tasks = [asyncio.create_task(pipeline.execute_async(probe)) for _ in range(1000)]
    while sum(t.done() for t in tasks) < 1000 - probes:
        await asyncio.sleep(0)
    assert entered == probes
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results.count("healthy") == probes
    rejected = [r for r in results if isinstance(r, CircuitOpenError)]
    assert len(rejected) == 1000 - probes
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize("probes", [1, 4])
def test_32_threads_admit_exactly_n_probes(probes: int) -> None:
    breaker, _ = half_open_ready(probes)
    start = threading.Barrier(32)
    release = threading.Event()
    lock = threading.Condition()
    entered = 0
    rejected = 0
    results: list[object] = []

    def probe() -> str:
        nonlocal entered
        with lock:
            entered += 1
            lock.notify_all()
        assert release.wait(10.0)
        return "healthy"

    def caller() -> None:
        nonlocal rejected
        start.wait()
        try:
            results.append(breaker.execute(probe))
        except CircuitOpenError:
            with lock:
                rejected += 1
                lock.notify_all()

    threads = [threading.Thread(target=caller) for _ in range(32)]
    for thread in threads:
        thread.start()
    with lock:
        assert lock.wait_for(lambda: entered + rejected == 32, timeout=10.0)
    assert entered == probes
    assert rejected == 32 - probes
    release.set()
    for thread in threads:
        thread.join(10.0)
    assert results == ["healthy"] * probes
    assert breaker.state is CircuitState.CLOSED


async def test_async_bulkhead_never_exceeds_its_limit() -> None:
    bulkhead = Bulkhead(max_concurrent=5, max_queue=1000)
    pipeline = Pipeline("bulk", bulkhead=bulkhead)
    running = 0
    peak = 0

    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(3):
            await asyncio.sleep(0)
        running -= 1
        return i

    results = await asyncio.gather(*(pipeline.execute_async(work, i) for i in range(300)))
    assert results == list(range(300))
    assert peak == 5
    assert bulkhead.active == 0 and bulkhead.waiting == 0


def test_threaded_bulkhead_never_exceeds_its_limit() -> None:
    bulkhead = Bulkhead(max_concurrent=4, max_queue=32)
    pipeline = Pipeline("bulk-threads", bulkhead=bulkhead)
    lock = threading.Lock()
    running = 0
    peak = 0
    done: list[int] = []

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0)  # yield the GIL so other threads contend for slots
        with lock:
            running -= 1
        return i

    def caller(i: int) -> None:
        for j in range(50):
            done.append(pipeline.execute(work, i * 100 + j))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30.0)
    assert len(done) == 32 * 50
    assert 1 <= peak <= 4
    assert bulkhead.active == 0 and bulkhead.waiting == 0


async def test_full_bulkhead_rejects_and_cancelled_waiters_leave_the_queue() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, name="db")
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    pipeline = Pipeline("bulk", bulkhead=bulkhead)
    first = asyncio.create_task(pipeline.execute_async(hold))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(pipeline.execute_async(hold))
    await asyncio.sleep(0)
    assert bulkhead.waiting == 1
    with pytest.raises(BulkheadFull, match="'db' is full"):
        await pipeline.execute_async(hold)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bulkhead.waiting == 0
    gate.set()
    await first
    assert bulkhead.active == 0


def test_sync_bulkhead_wait_is_bounded_by_max_wait() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait_s=0.0)
    bulkhead.acquire()
    with pytest.raises(BulkheadFull, match="wait ran out"):
        bulkhead.acquire()
    bulkhead.release()
    assert bulkhead.try_acquire()
    bulkhead.release()
