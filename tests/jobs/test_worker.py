"""The worker on both engines: transactional handlers, retries, DLQ, batches, stop, wake-up."""

from __future__ import annotations

import asyncio
import time

import pytest

from seawall.jobs import BatchResult, InvalidJobError, Job, Queue, RetryLater, Worker
from seawall.jobs.worker import WorkerEvent
from seawall.resilience import Constant
from seawall.store import Store, Tx, open_store
from seawall.testing import FakeClock


async def _effects_table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (job_id TEXT PRIMARY KEY, n INTEGER NOT NULL)")


async def _effects(store: Store) -> list[str]:
    async with store.read() as tx:
        return [r["job_id"] for r in await tx.fetchall("SELECT job_id FROM effects")]


async def test_transactional_handler_commits_effects_and_ack_together(store: Store) -> None:
    await _effects_table(store)
    queue = Queue(store, default_max_receives=2)
    events: list[WorkerEvent] = []
    worker = Worker(store, queue=queue, backoff=Constant(0.0), on_event=events.append)

    @worker.handler("orders")
    async def handle(job: Job, tx: Tx) -> None:
        if job.payload["n"] == 5 and job.receives == 1:
            raise RetryLater(0)  # before any statement: nothing of this job to roll back
        await tx.execute(
            "INSERT INTO effects (job_id, n) VALUES (?, ?)", (job.id, job.payload["n"])
        )
        if job.payload["n"] == 3:
            raise ValueError("card declined")

    ids = await queue.enqueue_many("orders", [{"n": n} for n in range(6)])
    assert await worker.run_until_idle() == 5
    assert sorted(await _effects(store)) == sorted(i for i in ids if i != ids[3])
    letter = await queue.dead_letter(ids[3] or "")
    assert letter is not None and len(letter.errors) == 2
    assert letter.errors[0]["error"] == "ValueError: card declined"
    assert "Traceback" in letter.errors[0]["traceback"]
    counters = (worker.processed, worker.failed, worker.dead_lettered, worker.retried)
    assert counters == (5, 1, 1, 1)
    assert {e.kind for e in events} == {
        "processed",
        "failed",
        "dead_lettered",
        "retried",
        "timed",
    }
    timed = [e for e in events if e.kind == "timed"]
    assert len(timed) == 8  # five successes, one RetryLater, two failed receives of job 3
    assert all(e.duration_s is not None and e.duration_s >= 0 for e in timed)
    assert sum(1 for e in timed if e.error == "ValueError") == 2


async def test_retry_later_and_backoff_delays_come_from_the_job(
    store: Store, clock: FakeClock
) -> None:
    queue = Queue(store, default_max_receives=5)
    worker = Worker(store, queue=queue, backoff=Constant(7.0))
    seen: list[int] = []

    @worker.handler("q", transactional=False)
    async def handle(job: Job) -> None:
        seen.append(job.receives)
        if job.payload["kind"] == "later" and job.receives == 1:
            raise RetryLater(120)
        if job.payload["kind"] == "flaky" and job.receives < 3:
            raise ConnectionError("provider down")

    later = await queue.enqueue("q", {"kind": "later"})
    flaky = await queue.enqueue("q", {"kind": "flaky"})
    assert await worker.run_until_idle() == 0
    (stats,) = await queue.stats()
    assert stats.delayed == 2
    job = await queue.get_job(later or "")
    assert job is not None and job.errors == [] and job.visible_at == clock.time() + 120
    job = await queue.get_job(flaky or "")
    assert job is not None and job.visible_at == clock.time() + 7
    clock.advance(7)
    await worker.run_until_idle()
    clock.advance(7)
    assert await worker.run_until_idle() == 1
    clock.advance(120)
    assert await worker.run_until_idle() == 1
    assert worker.retried == 1 and worker.failed == 2
    done = await queue.get_job(flaky or "")
    assert done is not None and done.state == "done" and len(done.errors) == 2


async def test_batch_handler_reports_partial_failures(store: Store) -> None:
    queue = Queue(store, default_max_receives=1)
    worker = Worker(store, queue=queue, batch_size=10, backoff=Constant(0.0))
    batches: list[int] = []

    @worker.handler("b", transactional=False, batch=True)
    async def handle(jobs: list[Job]) -> BatchResult:
        batches.append(len(jobs))
        bad = {j.id for j in jobs if j.payload["n"] % 4 == 0}
        return BatchResult(failed_ids=bad, errors={i: "rejected" for i in bad})

    await queue.enqueue_many("b", [{"n": n} for n in range(25)])
    assert await worker.run_until_idle() == 18
    assert sum(batches) == 25 and max(batches) <= 10
    letters = await queue.dead_letters("b", limit=100)
    assert sorted(d.payload["n"] for d in letters) == [0, 4, 8, 12, 16, 20, 24]
    assert all(d.errors[-1]["error"] == "rejected" for d in letters)


async def test_transactional_batch_handler(store: Store) -> None:
    await _effects_table(store)
    queue = Queue(store)
    worker = Worker(store, queue=queue, batch_size=50)

    @worker.handler("tb", batch=True)
    async def handle(jobs: list[Job], tx: Tx) -> None:
        await tx.executemany(
            "INSERT INTO effects (job_id, n) VALUES (?, ?)", [(j.id, 0) for j in jobs]
        )

    await queue.enqueue_many("tb", [{} for _ in range(120)])
    assert await worker.run_until_idle() == 120
    assert len(await _effects(store)) == 120


async def test_stop_finishes_in_flight_and_releases_unstarted(store: Store) -> None:
    queue = Queue(store)
    worker = Worker(store, queue=queue, concurrency=2, batch_size=8, grace_period=5)
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    @worker.handler("slow", transactional=False)
    async def handle(job: Job) -> None:
        started.set()
        await release.wait()
        finished.append(job.id)

    await queue.enqueue_many("slow", [{"i": i} for i in range(10)])
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(task, 10)
    assert len(finished) == 2 and worker.processed == 2
    (stats,) = await queue.stats()
    assert (stats.done, stats.ready, stats.in_flight) == (2, 8, 0)
    again = await queue.claim("slow", limit=10, visibility_timeout=5)
    assert len(again) == 8 and all(job.receives == 1 for job in again)


async def test_only_what_can_start_is_claimed(store: Store, clock: FakeClock) -> None:
    """A claim counts as a receive, so no job waits claimed behind a handler not yet proven
    quick: the second job is claimed when a runner is free, with a fresh lease."""
    queue = Queue(store)
    worker = Worker(store, queue=queue, concurrency=1, batch_size=2, visibility_timeout=10)
    ran: list[tuple[int, int]] = []

    @worker.handler("q", transactional=False)
    async def handle(job: Job) -> None:
        ran.append((job.payload["i"], job.receives))
        # A slow handler (6 s of a 10 s lease): a second job claimed with the first would
        # start with 4 s of its lease left and lose it before its own run ends.
        clock.advance(6)

    await queue.enqueue_many("q", [{"i": 0}, {"i": 1}])
    await worker.run_until_idle()
    assert ran == [(0, 1), (1, 1)] and worker.lease_lost == 0


async def test_lost_lease_rolls_back_transactional_handler(clock: FakeClock) -> None:
    from tests.conftest import require_postgres, unique_schema

    store = open_store(f"{require_postgres()}?schema={unique_schema()}", clock=clock)
    try:
        await store.migrate()
        await _effects_table(store)
        queue = Queue(store)
        worker = Worker(store, queue=queue, visibility_timeout=10)

        @worker.handler("q")
        async def handle(job: Job, tx: Tx) -> None:
            await tx.execute("INSERT INTO effects (job_id, n) VALUES (?, 1)", (job.id,))
            clock.advance(11)
            (thief,) = await queue.claim("q", limit=1, visibility_timeout=10)
            assert thief.id == job.id

        await queue.enqueue("q", {})
        await worker.run_until_idle()
        assert worker.lease_lost == 1 and worker.processed == 0
        assert await _effects(store) == []
    finally:
        await store.drop_schema()  # type: ignore[attr-defined]


async def test_worker_wakes_on_notify_before_the_poll_interval(store_url: str) -> None:
    store = open_store(store_url)
    await store.migrate()
    # On PostgreSQL the producer is a separate pool, so the wake-up crosses the server.
    producer = open_store(store_url) if store.engine == "postgresql" else store
    worker = Worker(store, poll_interval=30)
    got = asyncio.Event()

    @worker.handler("wake", transactional=False)
    async def handle(job: Job) -> None:
        got.set()

    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await Queue(producer).enqueue("wake", {})
        await asyncio.wait_for(got.wait(), 10)
        assert time.monotonic() - started < 10
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        if producer is not store:
            await producer.close()
        drop = getattr(store, "drop_schema", None)
        await (drop() if drop is not None else store.close())


async def test_registration_errors(store: Store) -> None:
    worker = Worker(store)
    with pytest.raises(InvalidJobError, match="at least one handler"):
        await worker.run_until_idle()

    async def h(job: Job) -> None:
        del job

    worker.register("a", h, transactional=False)
    with pytest.raises(InvalidJobError, match="already"):
        worker.register("a", h)
    with pytest.raises(InvalidJobError, match="no handler"):
        await Worker(store, queues=["zzz"]).run_until_idle()
    with pytest.raises(InvalidJobError):
        Worker(store, concurrency=0)
    with pytest.raises(InvalidJobError):
        RetryLater(-1)


async def test_long_outside_calls_keep_their_lease(store_url: str) -> None:
    store = open_store(store_url)
    await store.migrate()
    queue = Queue(store)
    worker = Worker(store, queue=queue, visibility_timeout=0.6)
    stolen: list[Job] = []

    @worker.handler("slow", transactional=False)
    async def handle(job: Job) -> None:
        for _ in range(3):  # 1.5 s in all, well past the 0.6 s lease
            await asyncio.sleep(0.5)
            stolen.extend(await queue.claim("slow", limit=1, visibility_timeout=5))

    try:
        await queue.enqueue("slow", {})
        assert await worker.run_until_idle() == 1
        assert stolen == [] and worker.lease_lost == 0
        (stats,) = await queue.stats()
        assert stats.done == 1
    finally:
        drop = getattr(store, "drop_schema", None)
        await (drop() if drop is not None else store.close())
