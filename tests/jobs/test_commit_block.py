"""Commit-block handlers on both engines: I/O outside any transaction, effects and ack together."""

from __future__ import annotations

import asyncio

import pytest

from seawall.jobs import JobError, JobRun, LeaseLostError, Queue, Worker
from seawall.resilience import Constant
from seawall.store import Store
from seawall.testing import FakeClock


async def _effects_table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (job_id TEXT PRIMARY KEY, n INTEGER NOT NULL)")


async def _effects(store: Store) -> list[str]:
    async with store.read() as tx:
        return sorted(r["job_id"] for r in await tx.fetchall("SELECT job_id FROM effects"))


async def test_effects_and_ack_commit_together(store: Store) -> None:
    await _effects_table(store)
    queue = Queue(store, default_max_receives=2)
    worker = Worker(store, queue=queue, backoff=Constant(0.0))

    @worker.handler("orders", commit_block=True)
    async def handle(run: JobRun) -> None:
        await asyncio.sleep(0)  # stands for a call to another service
        if run.payload["n"] == 1 and run.receives == 1:
            raise ConnectionError("before the block: nothing to roll back, retried")
        async with run.commit() as tx:
            await tx.execute("INSERT INTO effects (job_id, n) VALUES (?, ?)", (run.id, 0))
            if run.payload["n"] == 2:
                raise ValueError("inside the block: its insert rolls back")

    ids = await queue.enqueue_many("orders", [{"n": n} for n in range(4)])
    await worker.run_until_idle()
    assert await _effects(store) == sorted(i for i in ids if i != ids[2])
    assert (worker.processed, worker.retried + worker.failed, worker.dead_lettered) == (3, 2, 1)
    letter = await queue.dead_letter(ids[2] or "")
    assert letter is not None and letter.errors[-1]["error"].startswith("ValueError")
    stats = {s.queue: s for s in await queue.stats()}
    assert stats["orders"].ready == stats["orders"].in_flight == 0


async def test_a_lost_lease_rolls_the_block_back(store: Store, clock: FakeClock) -> None:
    await _effects_table(store)
    queue = Queue(store)
    job_id = await queue.enqueue("orders", {"n": 1})
    [claimed] = await queue.claim("orders", visibility_timeout=30)
    run = JobRun(claimed, store, queue)
    clock.advance(31)  # the handler waited on I/O past its lease...
    [again] = await queue.claim("orders", visibility_timeout=30)  # ...and another worker took it
    assert again.id == job_id
    with pytest.raises(LeaseLostError):
        async with run.commit() as tx:
            await tx.execute("INSERT INTO effects (job_id, n) VALUES (?, ?)", (job_id, 1))
    assert await _effects(store) == [], "the block's effects rolled back with the failed ack"
    assert not run.committed
    run2 = JobRun(again, store, queue)
    async with run2.commit() as tx:
        await tx.execute("INSERT INTO effects (job_id, n) VALUES (?, ?)", (job_id, 2))
    assert await _effects(store) == [job_id]
    with pytest.raises(JobError):
        async with run2.commit():
            pass


async def test_io_bound_handlers_run_side_by_side(store: Store) -> None:
    """16 handlers must all be waiting at once: impossible if any held the write lock."""
    await _effects_table(store)
    queue = Queue(store)
    worker = Worker(store, queue=queue, concurrency=16)
    everyone = asyncio.Barrier(16)

    @worker.handler("calls", commit_block=True)
    async def handle(run: JobRun) -> None:
        async with asyncio.timeout(10):
            await everyone.wait()  # returns only when 16 handlers are waiting together
        async with run.commit() as tx:
            await tx.execute("INSERT INTO effects (job_id, n) VALUES (?, ?)", (run.id, 0))

    ids = await queue.enqueue_many("calls", [{"n": n} for n in range(32)])
    await worker.run_until_idle()
    assert await _effects(store) == sorted(i for i in ids if i)
    assert worker.processed == 32 and worker.failed == 0


async def test_a_handler_that_never_opens_the_block_is_acked_after(store: Store) -> None:
    queue = Queue(store)
    worker = Worker(store, queue=queue)
    seen: list[str] = []

    @worker.handler("pings", commit_block=True)
    async def handle(run: JobRun) -> None:
        seen.append(run.id)

    await queue.enqueue_many("pings", [{"n": n} for n in range(3)])
    await worker.run_until_idle()
    assert len(seen) == 3 and worker.processed == 3
    stats = {s.queue: s for s in await queue.stats()}
    assert stats["pings"].done == 3


async def test_commit_block_handlers_take_one_job_at_a_time(store: Store) -> None:
    async def handle(jobs: object) -> None:
        return None

    with pytest.raises(JobError):
        Worker(store).register("x", handle, commit_block=True, batch=True)


async def test_run_until_idle_says_what_it_did(store: Store) -> None:
    queue = Queue(store, default_max_receives=1)
    worker = Worker(store, queue=queue, backoff=Constant(0.0))

    @worker.handler("mixed", transactional=False)
    async def handle(job: object) -> None:
        if getattr(job, "payload", {}).get("n", 0) < 3:
            raise ValueError("undeliverable")

    await queue.enqueue_many("mixed", [{"n": n} for n in range(5)])
    summary = await worker.run_until_idle()
    assert summary == 2, "the int is the jobs processed, as before"
    assert (summary.processed, summary.dead_lettered, summary.failed) == (2, 3, 0)
    assert "dead_lettered=3" in repr(summary)
