"""Retention of finished jobs: `Queue.cleanup` on both engines, and the `run_retention` loop."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from seawall.clock import SYSTEM_CLOCK
from seawall.jobs import InvalidJobError, Queue
from seawall.jobs.retention import run_retention
from seawall.store import Store
from seawall.testing import FakeClock


async def _states(queue: Queue, ids: dict[str, str | None]) -> dict[str, str | None]:
    """Each named job's state now, None once deleted."""
    out: dict[str, str | None] = {}
    for name, job_id in ids.items():
        assert job_id is not None
        job = await queue.get_job(job_id)
        out[name] = None if job is None else job.state
    return out


async def test_cleanup_deletes_only_old_done_jobs(store: Store, clock: FakeClock) -> None:
    queue = Queue(store, default_max_receives=1)
    old_done = [await queue.enqueue("q", {"old": n}) for n in range(5)]
    dead_id = await queue.enqueue("q", {"dies": True})
    jobs = await queue.claim("q", limit=6, visibility_timeout=3600)
    await queue.ack_many([j for j in jobs if j.id in old_done])
    await queue.nack(next(j for j in jobs if j.id == dead_id), delay=0, error="boom")
    clock.advance(1000)
    ready = await queue.enqueue("q", {"ready": True})
    delayed = await queue.enqueue("q", {"delayed": True}, delay=10_000)
    in_flight = await queue.enqueue("other", {"leased": True})
    (leased,) = await queue.claim("other", limit=1, visibility_timeout=10_000)
    recent = await queue.enqueue("other", {"recent": True})
    (recent_job,) = await queue.claim("other", limit=1)
    await queue.ack(recent_job)
    clock.advance(100)
    ids: dict[str, str | None] = {
        "ready": ready,
        "delayed": delayed,
        "in_flight": in_flight,
        "recent": recent,
    }
    ids |= {"dead": dead_id} | {f"old{n}": j for n, j in enumerate(old_done)}
    assert all(ids.values()) and leased.id == in_flight

    assert await queue.cleanup(older_than_s=2000) == 0  # nothing finished that long ago
    assert await queue.cleanup(older_than_s=500, batch_size=2) == 5  # three batches
    after = await _states(queue, ids)
    assert after == {
        "ready": "pending",
        "delayed": "pending",
        "in_flight": "pending",
        "recent": "done",
        "dead": "dead",
        **{f"old{n}": None for n in range(5)},
    }
    clock.advance(1_000_000)  # even very old, only done jobs go; dead letters wait for purge
    assert await queue.cleanup(older_than_s=500) == 1
    assert await _states(queue, {"dead": dead_id, "in_flight": in_flight}) == {
        "dead": "dead",
        "in_flight": "pending",
    }


async def test_cleanup_uses_the_store_clock_and_rejects_bad_ages(
    store: Store, clock: FakeClock
) -> None:
    queue = Queue(store)
    await queue.enqueue("q", {})
    (job,) = await queue.claim("q")
    await queue.ack(job)
    clock.advance(59)
    assert await queue.cleanup(older_than_s=60) == 0
    clock.advance(2)
    assert await queue.cleanup(older_than_s=60) == 1
    for bad in (-1.0, float("nan")):
        with pytest.raises(InvalidJobError, match="older_than_s must be >= 0"):
            await queue.cleanup(older_than_s=bad)
    with pytest.raises(InvalidJobError, match="batch_size"):
        await queue.cleanup(older_than_s=1, batch_size=0)


async def test_run_retention_repeats_logs_counts_and_survives_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    stop = asyncio.Event()
    calls: list[tuple[str, float, float]] = []

    async def jobs(older_than_s: float) -> int:
        calls.append(("jobs", older_than_s, clock.time()))
        if len(calls) >= 7:
            stop.set()
        return 3

    async def flaky(older_than_s: float) -> int:
        calls.append(("events", older_than_s, clock.time()))
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return 1

    caplog.set_level(logging.INFO, logger="seawall.jobs.worker")
    start = clock.time()
    await asyncio.wait_for(
        run_retention(
            {"jobs": jobs, "webhook events": flaky},
            retention_s=3600,
            interval_s=300,
            stop=stop,
            clock=clock,
        ),
        timeout=5,
    )
    assert [c[0] for c in calls] == ["jobs", "events"] * 3 + ["jobs", "events"]
    assert {c[1] for c in calls} == {3600}
    assert [c[2] - start for c in calls[::2]] == [0, 300, 600, 900]
    assert clock.slept == [300, 300, 300]
    messages = [r.getMessage() for r in caplog.records]
    assert any("retention clean-up of webhook events failed" in m for m in messages)
    assert "retention clean-up deleted 3 jobs, 1 webhook events older than 3600 s" in messages
    assert "retention clean-up deleted 3 jobs older than 3600 s" in messages  # the failed round


async def test_run_retention_stops_promptly_and_zero_disables() -> None:
    stop = asyncio.Event()
    rounds: list[float] = []

    async def step(older_than_s: float) -> int:
        rounds.append(older_than_s)
        return 0

    task = asyncio.create_task(
        run_retention(
            {"jobs": step}, retention_s=60, interval_s=3600, stop=stop, clock=SYSTEM_CLOCK
        )
    )
    while not rounds:
        await asyncio.sleep(0.01)
    began = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert time.monotonic() - began < 1 and rounds == [60]

    await asyncio.wait_for(
        run_retention(
            {"jobs": step},
            retention_s=0,
            interval_s=1,
            stop=asyncio.Event(),
            clock=SYSTEM_CLOCK,
        ),
        timeout=1,
    )
    assert rounds == [60]  # disabled: never called
    with pytest.raises(ValueError, match="interval_s > 0"):
        await run_retention(
            {"jobs": step}, retention_s=1, interval_s=0, stop=stop, clock=SYSTEM_CLOCK
        )
