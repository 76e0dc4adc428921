"""Rate limits and retry budgets shared through Redis or PostgreSQL: one limit for the fleet,
leased in batches, local shares while the store is down, rejoining when it returns.

One contract suite, run over both stores. Each limiter gets its own store object (its own
connection), as a separate process would.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from seawall import Pipeline, Retry
from seawall.fleet import (
    LimitsStore,
    PostgresLimits,
    SharedRateLimiter,
    SharedRetryBudget,
)
from seawall.resilience.backoff import Constant
from seawall.resilience.errors import RateLimited, RetryBudgetExhausted
from seawall.testing import FakeClock
from tests.fleet.conftest import Backend


def count_trips(store: LimitsStore) -> list[int]:
    """Count the store's round trips (attempted ones too) in a one-item list."""
    trips = [0]
    for method in ("_take", "_budget"):
        real = getattr(store, method)

        def counted(*args: Any, _real: Any = real) -> Any:
            trips[0] += 1
            return _real(*args)

        setattr(store, method, counted)
    return trips


def trips_by_thread(store: LimitsStore) -> list[str]:
    """Record the name of the thread making each `take` round trip."""
    names: list[str] = []
    real = store._take

    def recorded(*args: Any) -> Any:
        names.append(threading.current_thread().name)
        return real(*args)

    store._take = recorded  # type: ignore[method-assign]
    return names


def admitted(limiter: SharedRateLimiter) -> bool:
    try:
        limiter.reserve()
    except RateLimited:
        return False
    return True


# -- rate limits --------------------------------------------------------------------------------


def test_two_processes_draw_from_one_bucket_in_batches(backend: Backend, namespace: str) -> None:
    """A burst of 10 and almost no refill: 10 calls in total, whoever makes them."""
    stores = [backend.limits(namespace), backend.limits(namespace)]
    trips = [count_trips(s) for s in stores]
    limiters = [SharedRateLimiter(s, "psp", rate=0.001, burst=10, batch=3) for s in stores]
    got = [0, 0]
    for _ in range(10):
        for i, limiter in enumerate(limiters):
            got[i] += admitted(limiter)
    assert sum(got) == 10 and min(got) >= 3  # not 10 each: one bucket
    assert not admitted(limiters[0]) and not admitted(limiters[1])
    # 10 tokens in leases of up to 3, plus the refused attempts: far fewer trips than calls.
    assert trips[0][0] + trips[1][0] <= 2 + 4 + 10 + 2


def test_four_processes_admit_about_the_fleet_rate(backend: Backend, namespace: str) -> None:
    """4 limiters sharing 100/s over a window admit about 100/s in total, not 4 x 100/s."""
    rate, burst, workers = 100.0, 10.0, 4
    limiters = [
        SharedRateLimiter(backend.limits(namespace), "psp", rate, burst, processes=workers)
        for _ in range(workers)
    ]
    assert limiters[0].batch == 2
    counts = [0] * workers
    start = threading.Barrier(workers + 1)
    stop = threading.Event()

    def run(i: int) -> None:
        start.wait()
        while not stop.is_set():
            if admitted(limiters[i]):
                counts[i] += 1
            else:
                time.sleep(0.002)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    time.sleep(0.8)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    total = sum(counts)
    ceiling = burst + rate * (elapsed + 0.05) + workers * (limiters[0].batch - 1)
    # The ceiling is the store's promise. The floor shows the fleet is not starved; on moto
    # (DynamoDB) each round trip can take tens of milliseconds on a busy machine, so there it
    # only asks for the burst.
    floor = burst if backend.kind == "dynamo" else rate * elapsed * 0.5
    assert floor <= total <= ceiling, (total, elapsed, counts)
    assert all(c > 0 for c in counts)


def test_a_caller_that_may_wait_reserves_the_next_token(backend: Backend, namespace: str) -> None:
    store = backend.limits(namespace)
    # One token a second: round trips (tens of milliseconds on moto) refill next to nothing.
    waiting = SharedRateLimiter(store, "slow", rate=1, burst=1, max_wait_s=10.0)
    assert waiting.reserve() == 0.0
    first = waiting.reserve()
    second = waiting.reserve()
    assert 0.0 < first <= 1.0 and first < second <= 2.0  # queued behind each other
    strict = SharedRateLimiter(backend.limits(namespace), "slow", rate=1, burst=1)
    with pytest.raises(RateLimited) as info:
        strict.reserve()
    assert info.value.retry_after > 1.0


async def test_async_callers_find_the_lease_refilled_in_the_background(
    backend: Backend, namespace: str
) -> None:
    """Past the first call, an event loop's calls take leased tokens: the refill thread makes
    the round trips before the lease runs dry."""
    store = backend.limits(namespace)
    names = trips_by_thread(store)
    limiter = SharedRateLimiter(store, "psp", rate=1e9, burst=1e9, batch=10)
    assert limiter.low_water == 5
    try:
        loop_thread = threading.current_thread().name
        await limiter.acquire_async()  # the first call: a round trip here, then the thread starts
        for _ in range(40):
            await limiter.acquire_async()
            deadline = time.monotonic() + 5.0
            while limiter._leased <= limiter.low_water and time.monotonic() < deadline:
                await asyncio.sleep(0.005)  # give the refill thread its round trip
        assert names[0] == loop_thread
        assert len(names) >= 4 and all(n != loop_thread for n in names[1:]), names
    finally:
        limiter.close()


def test_sync_callers_start_no_refill_thread(backend: Backend, namespace: str) -> None:
    store = backend.limits(namespace)
    names = trips_by_thread(store)
    limiter = SharedRateLimiter(store, "psp", rate=1e9, burst=1e9, batch=10)
    for _ in range(25):
        limiter.acquire()
    time.sleep(0.1)
    assert names == [threading.current_thread().name] * 3  # one trip per batch, on the caller


def test_a_pipeline_takes_the_shared_limiter(backend: Backend, namespace: str) -> None:
    limiter = SharedRateLimiter(backend.limits(namespace), "psp", rate=0.001, burst=2)
    pipeline = Pipeline(rate_limiter=limiter)
    assert pipeline.execute(lambda: 1) + pipeline.execute(lambda: 2) == 3
    with pytest.raises(RateLimited):
        pipeline.execute(lambda: 3)


def test_an_unreachable_store_limits_each_process_to_its_share(
    backend: Backend, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    seen: list[str] = []
    store = backend.limits(
        namespace, closed=True, clock=clock, retry_s=5.0, on_fallback=seen.append
    )
    trips = count_trips(store)
    limiter = SharedRateLimiter(store, "psp", rate=10, burst=10, processes=2, clock=clock)
    with caplog.at_level(logging.WARNING, logger="seawall.fleet.limits"):
        got = sum(admitted(limiter) for _ in range(20))
        assert got == 5  # this process's share of the burst: 10 / 2
        clock.advance(1.0)
        assert sum(admitted(limiter) for _ in range(20)) == 5  # and of the rate: 10 / 2 per s
    assert trips[0] == 1  # one attempt per retry period, not one per call
    assert not store.available and store.fallbacks == 1 and seen == [namespace]
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1


def test_a_limiter_rejoins_the_fleet_when_the_store_returns(
    backend: Backend, namespace: str
) -> None:
    clock = FakeClock()
    store = backend.limits(namespace, clock=clock, retry_s=1.0)
    limiter = SharedRateLimiter(store, "psp", rate=0.001, burst=4, batch=1, clock=clock)
    saved = backend.cut(store)
    assert admitted(limiter)  # decided locally
    assert not store.available
    backend.restore(store, saved)
    assert admitted(limiter)  # still resting: local
    assert not store.available
    clock.advance(1.0)
    assert sum(admitted(limiter) for _ in range(10)) == 4  # the fleet's bucket of 4
    assert store.available and store.fallbacks == 1


# -- retry budgets ------------------------------------------------------------------------------


def test_calls_anywhere_earn_retries_everywhere(backend: Backend, namespace: str) -> None:
    a = SharedRetryBudget(backend.limits(namespace), "psp", 0.5, 0.0, background=False)
    b = SharedRetryBudget(backend.limits(namespace), "psp", 0.5, 0.0, background=False)
    for _ in range(10):
        a.deposit()
    assert not b.try_withdraw()  # a has not sent its calls yet
    assert a.sync_now()
    assert b.available() == pytest.approx(5.0)
    assert [b.try_withdraw() for _ in range(6)] == [True] * 5 + [False]
    assert not a.try_withdraw()  # the fleet's budget is spent, not only b's


def test_a_retry_sends_the_pending_calls_with_it(backend: Backend, namespace: str) -> None:
    budget = SharedRetryBudget(backend.limits(namespace), "psp", 0.5, 0.0, background=False)
    for _ in range(4):
        budget.deposit()
    assert [budget.try_withdraw() for _ in range(3)] == [True, True, False]


def test_the_floor_is_for_the_whole_fleet(backend: Backend, namespace: str) -> None:
    a = SharedRetryBudget(backend.limits(namespace), "psp", 0.0, 1.0, background=False)
    b = SharedRetryBudget(backend.limits(namespace), "psp", 0.0, 1.0, background=False)
    assert a.try_withdraw()
    assert not b.try_withdraw()  # one retry per second for the fleet, not per process


def test_the_sync_thread_sends_deposits(backend: Backend, namespace: str) -> None:
    a = SharedRetryBudget(backend.limits(namespace), "psp", 0.5, 0.0, sync_interval_s=0.02)
    b = SharedRetryBudget(backend.limits(namespace), "psp", 0.5, 0.0, background=False)
    try:
        for _ in range(10):
            a.deposit()
        deadline = time.monotonic() + 2.0
        while b.available() < 5.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.available() == pytest.approx(5.0)
    finally:
        a.close()


def test_a_retry_stops_on_the_fleets_empty_budget(backend: Backend, namespace: str) -> None:
    clock = FakeClock()
    budget = SharedRetryBudget(backend.limits(namespace), "psp", 0.1, 0.0, background=False)
    retry = Retry(3, backoff=Constant(0.0), budget=budget, clock=clock)

    def down() -> None:
        raise ConnectionError("down")

    with pytest.raises(RetryBudgetExhausted):
        retry.call(down)


def test_an_unreachable_store_gives_each_process_a_local_budget(
    backend: Backend, namespace: str
) -> None:
    clock = FakeClock()
    store = backend.limits(namespace, closed=True, clock=clock)
    budget = SharedRetryBudget(store, "psp", 0.5, 2.0, processes=2, background=False, clock=clock)
    assert budget.try_withdraw()  # the local floor: 2 / 2 = 1 per second
    assert not budget.try_withdraw()
    for _ in range(4):
        budget.deposit()
    assert [budget.try_withdraw() for _ in range(3)] == [True, True, False]
    assert not store.available and store.fallbacks == 1


def test_deposits_made_during_an_outage_reach_the_fleet_later(
    backend: Backend, namespace: str
) -> None:
    clock = FakeClock()
    store = backend.limits(namespace, clock=clock, retry_s=1.0)
    a = SharedRetryBudget(store, "psp", 0.5, 0.0, background=False, clock=clock)
    b = SharedRetryBudget(backend.limits(namespace), "psp", 0.5, 0.0, background=False)
    saved = backend.cut(store)
    for _ in range(6):
        a.deposit()
    assert not a.sync_now()
    backend.restore(store, saved)
    clock.advance(1.0)
    assert a.sync_now()
    assert b.available() == pytest.approx(3.0)


def test_a_waiter_never_moves_a_postgres_bucket_back_in_time(pg_url: str, namespace: str) -> None:
    """A call that waited for the bucket's row lock reads the clock after the wait: the refill
    is never counted twice from an older time."""
    psycopg = pytest.importorskip("psycopg")
    store = PostgresLimits(pg_url, namespace=namespace, timeout_s=5.0)
    store.take("psp", 1.0, 1.0, 1, 0.0)  # creates the row (and the tables)
    base, schema = pg_url.split("?schema=")
    where = "namespace = %s AND kind = 'rate' AND key = 'psp'"
    with psycopg.connect(base, options=f"-c search_path={schema}") as holder:
        holder.execute(
            f"SELECT at FROM seawall_fleet_buckets WHERE {where} FOR UPDATE", (namespace,)
        )
        waiter = threading.Thread(target=store.take, args=("psp", 1.0, 1.0, 1, 0.0))
        waiter.start()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:  # until the waiter blocks on the row lock
            (waiting,) = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE %s",
                ("%seawall_fleet_take%",),
            ).fetchone()
            if waiting:
                break
            time.sleep(0.01)
        later = time.time() + 30.0  # a later writer's time, as if it took the lock first
        holder.execute(
            f"UPDATE seawall_fleet_buckets SET at = %s WHERE {where}", (later, namespace)
        )
        holder.commit()
    waiter.join(timeout=5.0)
    with psycopg.connect(base, options=f"-c search_path={schema}") as reader:
        (at,) = reader.execute(
            f"SELECT at FROM seawall_fleet_buckets WHERE {where}", (namespace,)
        ).fetchone()
    assert at >= later
