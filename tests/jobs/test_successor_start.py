"""A commit block carries the start of its runner's next job (both engines): each job counted
once, a failed block gives its reserved job back uncounted, a stopping worker releases or runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from seawall.jobs import Job, JobRun, Queue, Worker
from seawall.resilience import Constant
from seawall.store import Store
from seawall.store.base import Statement
from seawall.testing import FakeClock

INSERT = "INSERT INTO effects (job_id) VALUES (?)"


class CountingQueue(Queue):
    """A queue that records its grouped start writes and the starts that ride with blocks."""

    def __init__(self, store: Store, **kwargs: int) -> None:
        super().__init__(store, **kwargs)
        self.start_calls = 0
        self.started_by_start: list[str] = []
        self.rides: list[str] = []
        """The jobs whose starts rode with a block, in order."""
        self.reserved: dict[str, list[str]] = {}
        """Job whose block carried a start (by the name of the task running its handler) ->
        the jobs started (reserved) by its blocks, one per run."""

    async def start(
        self, jobs: Sequence[Job], *, visibility_timeout: float | None = None
    ) -> list[Job]:
        self.start_calls += 1
        self.started_by_start.extend(job.id for job in jobs)
        return await super().start(jobs, visibility_timeout=visibility_timeout)

    def start_statement(self, job: Job, *, visibility_timeout: float) -> tuple[Statement, Job]:
        task = asyncio.current_task()
        self.reserved.setdefault(task.get_name() if task else "?", []).append(job.id)
        self.rides.append(job.id)
        return super().start_statement(job, visibility_timeout=visibility_timeout)


def _named(run: JobRun) -> None:
    """Name the handler's task after its job, so `CountingQueue.reserved` says whose block it
    was (the block asks for its successor from the handler's own task)."""
    task = asyncio.current_task()
    assert task is not None
    task.set_name(run.id)


async def _effects_table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (job_id TEXT PRIMARY KEY)")


async def _effects(store: Store) -> list[str]:
    async with store.read() as tx:
        return sorted(r["job_id"] for r in await tx.fetchall("SELECT job_id FROM effects"))


async def _rows(store: Store) -> dict[str, tuple[int, int, str | None]]:
    """Each job's (state, receives, lease_token) as stored."""
    async with store.read() as tx:
        rows = await tx.fetchall("SELECT id, state, receives, lease_token FROM seawall_jobs")
    return {r["id"]: (int(r["state"]), int(r["receives"]), r["lease_token"]) for r in rows}


async def test_most_starts_ride_with_the_blocks_before_them(store: Store) -> None:
    await _effects_table(store)
    queue = CountingQueue(store)
    worker = Worker(store, queue=queue, concurrency=8, backoff=Constant(0.0))
    runs: list[str] = []

    @worker.handler("orders", commit_block=True)
    async def handle(run: JobRun) -> None:
        runs.append(run.id)
        await asyncio.sleep(0.05)  # stands for a call to another service
        async with run.commit() as tx:
            await tx.execute(INSERT, (run.id,))

    ids = await queue.enqueue_many("orders", [{"n": n} for n in range(60)])
    async with asyncio.timeout(20):
        summary = await worker.run_until_idle()
    assert summary == 60 and sorted(runs) == sorted(ids)
    assert await _effects(store) == sorted(ids)
    assert await _rows(store) == {job_id: (1, 1, None) for job_id in ids}
    # Every start was written once: by a grouped start write or riding with a block.
    rode = queue.rides
    assert sorted(queue.started_by_start + rode) == sorted(ids)
    assert len(rode) >= 15, (len(rode), queue.start_calls)
    assert queue.start_calls <= 20, (len(rode), queue.start_calls)


async def test_a_raising_block_gives_its_reserved_job_back_uncounted(store: Store) -> None:
    await _effects_table(store)
    queue = CountingQueue(store, default_max_receives=3)
    worker = Worker(store, queue=queue, concurrency=1, backoff=Constant(0.0))
    receives: dict[str, list[int]] = {}
    ids: list[str] = []

    @worker.handler("orders", commit_block=True)
    async def handle(run: JobRun) -> None:
        _named(run)
        receives.setdefault(run.id, []).append(run.receives)
        await asyncio.sleep(0.01)
        async with run.commit() as tx:
            await tx.execute(INSERT, (run.id,))
            if run.id == ids[2] and run.receives == 1:
                raise ValueError("the block rolls back, with the start it carried")

    ids.extend(i or "" for i in await queue.enqueue_many("orders", [{"n": n} for n in range(6)]))
    async with asyncio.timeout(20):
        await worker.run_until_idle()
    assert ids[2] in queue.reserved, "the raising block carried the next job's start"
    reserved = queue.reserved[ids[2]][0]
    assert reserved in queue.started_by_start, "it started afresh, through the grouped write"
    assert receives[reserved] == [1]
    assert receives[ids[2]] == [1, 2], "the raising job was retried as usual"
    rows = await _rows(store)
    assert rows == {i: (1, 2 if i == ids[2] else 1, None) for i in ids}
    assert await _effects(store) == sorted(ids)
    assert (worker.processed, worker.failed, worker.lease_lost) == (6, 1, 0)


async def test_handlers_without_a_block_reserve_nothing(store: Store) -> None:
    await _effects_table(store)
    queue = CountingQueue(store, default_max_receives=3)
    worker = Worker(store, queue=queue, concurrency=2, backoff=Constant(0.0))
    ran: list[str] = []

    @worker.handler("orders", commit_block=True)
    async def handle(run: JobRun) -> None:
        _named(run)
        ran.append(run.id)
        await asyncio.sleep(0.01)
        n = run.payload["n"]
        if n % 3 == 0:
            return  # no block: acked afterwards
        if n % 3 == 1 and run.receives == 1:
            raise ConnectionError("before the block: retried")
        async with run.commit() as tx:
            await tx.execute(INSERT, (run.id,))

    ids = [i or "" for i in await queue.enqueue_many("orders", [{"n": n} for n in range(12)])]
    async with asyncio.timeout(20):
        await worker.run_until_idle()
    by_n = dict(enumerate(ids))
    blocks = {by_n[n] for n in range(12) if n % 3 == 2} | {by_n[n] for n in range(12) if n % 3 == 1}
    assert set(queue.reserved) <= blocks, "only blocks that opened carried a start"
    assert {by_n[n] for n in range(12) if n % 3 == 0}.isdisjoint(queue.reserved)
    expected = {by_n[n]: (1, 2 if n % 3 == 1 else 1, None) for n in range(12)}
    assert await _rows(store) == expected, "nothing stuck leased, each receive counted once"
    assert sorted(ran) == sorted(ids + [by_n[n] for n in range(12) if n % 3 == 1])
    assert await _effects(store) == sorted(by_n[n] for n in range(12) if n % 3 != 0)
    assert (worker.processed, worker.failed, worker.lease_lost) == (12, 4, 0)


async def _stop_while_blocks_are_open(
    store: Store, *, fail_on_stop: bool
) -> tuple[CountingQueue, Worker, set[str], list[str]]:
    """Run a worker whose blocks wait until a stop is requested, then commit (or raise, with
    `fail_on_stop`); return the queue, the worker, the jobs whose handlers ran, and all ids."""
    await _effects_table(store)
    queue = CountingQueue(store)
    worker = Worker(store, queue=queue, concurrency=4, backoff=Constant(0.0), grace_period=30)
    ran: set[str] = set()
    inside = asyncio.Event()
    go_on = asyncio.Event()

    @worker.handler("orders", commit_block=True)
    async def handle(run: JobRun) -> None:
        _named(run)
        ran.add(run.id)
        await asyncio.sleep(0.01)
        async with run.commit() as tx:
            await tx.execute(INSERT, (run.id,))
            inside.set()
            await go_on.wait()
            if fail_on_stop:
                raise ValueError("the block fails while the worker stops")

    ids = [i or "" for i in await queue.enqueue_many("orders", [{"n": n} for n in range(30)])]
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    async with asyncio.timeout(30):
        await inside.wait()
        while len(queue.rides) < 2 and len(queue.rides) < len(ran):
            await asyncio.sleep(0.01)  # blocks queued behind the first have reserved too
        assert queue.rides, "a block in flight carries its runner's next start"
        stop.set()
        await asyncio.sleep(0.05)  # the stop is seen and the buffer released
        go_on.set()
        await running
    return queue, worker, ran, ids


async def test_a_stop_runs_the_reserved_job_whose_start_committed(store: Store) -> None:
    queue, worker, ran, ids = await _stop_while_blocks_are_open(store, fail_on_stop=False)
    rows = await _rows(store)
    for job_id, (state, receives, token) in rows.items():
        if state == 1:
            assert job_id in ran and receives == 1
        else:
            assert (state, receives, token) == (0, 0, None), "released, receive uncounted"
            assert job_id not in ran
    reserved = set(queue.rides)
    assert reserved <= ran, "a job whose start rode with a committed block ran, stop or not"
    assert all(rows[job_id][:2] == (1, 1) for job_id in reserved)
    assert any(rows[job_id][0] == 0 for job_id in ids), "the stop left some jobs unstarted"
    assert (worker._buffered_jobs, worker._running_jobs) == (0, 0)
    # The worker's counts are whole again: a later run finishes the rest.
    async with asyncio.timeout(30):
        await worker.run_until_idle()
    assert await _rows(store) == {job_id: (1, 1, None) for job_id in ids}


async def test_a_block_failing_during_the_stop_releases_its_reserved_job(store: Store) -> None:
    queue, worker, ran, _ids = await _stop_while_blocks_are_open(store, fail_on_stop=True)
    rows = await _rows(store)
    for job_id, (state, receives, token) in rows.items():
        assert state == 0 and token is None, "nothing stays leased, nothing is done"
        assert receives == (1 if job_id in ran else 0), "only jobs that ran used a receive"
    reserved = set(queue.rides)
    assert reserved and reserved.isdisjoint(ran)
    assert all(rows[job_id] == (0, 0, None) for job_id in reserved)
    assert (worker._buffered_jobs, worker._running_jobs) == (0, 0)


async def test_a_job_whose_lease_ran_out_is_not_reserved(store: Store, clock: FakeClock) -> None:
    await _effects_table(store)
    queue = CountingQueue(store)
    worker = Worker(store, queue=queue, concurrency=1, visibility_timeout=30)
    ran: list[tuple[str, int]] = []
    ids: list[str] = []
    lost: list[str] = []

    @worker.handler("orders", commit_block=True)
    async def handle(run: JobRun) -> None:
        _named(run)
        ran.append((run.id, run.receives))
        if run.id == ids[0]:
            # The handler waited past the lease taken ahead for the job buffered behind it
            # (its own lease is kept).
            while not worker._units:
                await asyncio.sleep(0.01)
            clock.advance(31)
            assert await queue.extend(run.job, 30)
        async with run.commit() as tx:
            await tx.execute(INSERT, (run.id,))

    worker.on_event = lambda event: lost.append(event.queue) if event.kind == "lease_lost" else None
    ids.extend(i or "" for i in await queue.enqueue_many("orders", [{"n": n} for n in range(3)]))
    async with asyncio.timeout(20):
        await worker.run_until_idle()
    assert ids[0] not in queue.reserved, "the job behind it was not reserved"
    assert worker.lease_lost == 1 and lost == ["orders"], "it was found lost as it came up"
    assert sorted(ran) == sorted((i, 1) for i in ids), "each job ran once, on its first receive"
    assert await _rows(store) == {i: (1, 1, None) for i in ids}
    assert await _effects(store) == sorted(ids)
