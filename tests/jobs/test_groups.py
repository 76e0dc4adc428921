"""Transaction groups on both engines: who commits, what a group costs, when grouping stops."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from seawall.jobs import Job, Queue, Worker
from seawall.jobs.worker import AWAITING_S
from seawall.resilience import Constant
from seawall.store import Store, Tx
from seawall.store.base import Params, Row

TAKE = " RETURNING id"
ACK = "UPDATE seawall_jobs SET state = 1"
"""How the statement that acks a group up front ends (it returns the ids it acked)."""


class _Recording:
    """A Tx that records its statements into its transaction's list."""

    def __init__(self, tx: Tx, log: list[str]) -> None:
        self._tx = tx
        self._log = log
        self.engine = tx.engine

    async def execute(self, sql: str, params: Params = ()) -> int:
        self._log.append(sql)
        return await self._tx.execute(sql, params)

    async def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> int:
        self._log.append(sql)
        return await self._tx.executemany(sql, seq_of_params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        self._log.append(sql)
        return await self._tx.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._log.append(sql)
        return await self._tx.fetchall(sql, params)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        self._log.append(sql)
        return await self._tx.fetchval(sql, params)

    def notify(self, channel: str) -> None:
        self._tx.notify(channel)


class _RecordingStore:
    """The real store, keeping the statements of each write transaction (one list each)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.transactions: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        log: list[str] = []
        self.transactions.append(log)
        async with self._store.transaction() as tx:
            yield _Recording(tx, log)  # type: ignore[misc]

    def groups(self) -> list[list[str]]:
        """The transactions that ran a group (they open with the up-front ack; the write
        counting receives at start also returns ids, but sets no state)."""
        return [
            log
            for log in self.transactions
            if log and log[0].startswith(ACK) and log[0].endswith(TAKE)
        ]


async def _effects_table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (job_id TEXT PRIMARY KEY)")


async def _effects(store: Store) -> set[str]:
    async with store.read() as tx:
        return {r["job_id"] for r in await tx.fetchall("SELECT job_id FROM effects")}


class _StealingQueue(Queue):
    """A queue whose first claim is followed by another worker taking over one job's lease
    (its token changes, as a claim by that worker would leave it)."""

    victim: str | None = None

    async def claim_counted(
        self,
        queue_name: str,
        *,
        limit: int = 1,
        visibility_timeout: float = 30.0,
        count_receive: bool = True,
    ) -> tuple[list[Job], int]:
        jobs, dead = await super().claim_counted(
            queue_name,
            limit=limit,
            visibility_timeout=visibility_timeout,
            count_receive=count_receive,
        )
        if self.victim is not None and any(job.id == self.victim for job in jobs):
            async with self.store.transaction() as tx:
                await tx.execute(
                    "UPDATE seawall_jobs SET lease_token = 'other-worker' WHERE id = ?",
                    (self.victim,),
                )
            self.victim = None
        return jobs, dead


def _proved_quick(worker: Worker, queue_name: str) -> None:
    """Record `concurrency` quick runs, as a worker has after its first ones: the queue's jobs
    are then claimed a batch at a time (receives counted at the claim) and grouped."""
    for _ in range(worker.concurrency):
        worker._note(queue_name, time.perf_counter())


async def test_a_group_commits_all_but_the_failing_and_the_stolen_job(store: Store) -> None:
    await _effects_table(store)
    recording = _RecordingStore(store)
    queue = _StealingQueue(recording, default_max_receives=3)  # type: ignore[arg-type]
    worker = Worker(
        recording,  # type: ignore[arg-type]
        queue=queue,
        concurrency=4,
        batch_size=4,
        backoff=Constant(60.0),
    )
    _proved_quick(worker, "orders")
    ids = await queue.enqueue_many("orders", [{"n": n} for n in range(4)])
    ok_1, failing, stolen, ok_2 = ids
    queue.victim = stolen

    @worker.handler("orders")
    async def handle(job: Job, tx: Tx) -> None:
        await tx.execute("INSERT INTO effects (job_id) VALUES (?)", (job.id,))
        if job.id == failing:
            raise ValueError("card declined")

    summary = await worker.run_until_idle()
    assert (summary.processed, summary.failed, summary.lease_lost) == (2, 1, 1)
    assert await _effects(store) == {ok_1, ok_2}
    (group,) = recording.groups()  # all four jobs were one transaction
    assert any(sql.startswith("ROLLBACK TO SAVEPOINT") for sql in group)
    for job_id, state in ((ok_1, "done"), (ok_2, "done"), (failing, "pending")):
        job = await queue.get_job(job_id or "")
        assert job is not None and job.state == state
    failed = await queue.get_job(failing or "")
    assert failed is not None and failed.lease_token is None
    assert failed.errors[-1]["error"] == "ValueError: card declined"
    taken_over = await queue.get_job(stolen or "")
    assert taken_over is not None
    assert (taken_over.state, taken_over.lease_token) == ("pending", "other-worker")


async def test_a_group_of_quiet_handlers_costs_one_statement(store: Store) -> None:
    recording = _RecordingStore(store)
    queue = Queue(recording)  # type: ignore[arg-type]
    worker = Worker(recording, queue=queue, concurrency=64, batch_size=64)  # type: ignore[arg-type]
    ran: list[str] = []

    @worker.handler("quiet")
    async def handle(job: Job, tx: Tx) -> None:
        ran.append(job.id)

    await queue.enqueue_many("quiet", [{"n": n} for n in range(128)])
    assert await worker.run_until_idle() == 128
    groups = recording.groups()
    # The ack taken up front is each group's only statement (with BEGIN and COMMIT: the
    # group's round trips); a group that ran out of time also gives its rest back.
    assert all(len(group) == 1 or len(group) == 2 for group in groups)
    assert sum(len(group) for group in groups) <= 2 * len(groups)
    assert len(groups) <= 8  # 128 jobs, 64 at most to a group
    assert len(ran) == 128


async def test_a_group_that_runs_out_of_time_hands_its_rest_back(store: Store) -> None:
    await _effects_table(store)
    recording = _RecordingStore(store)
    queue = Queue(recording)  # type: ignore[arg-type]
    worker = Worker(recording, queue=queue, concurrency=4, batch_size=4)  # type: ignore[arg-type]
    _proved_quick(worker, "slow")
    ids = await queue.enqueue_many("slow", [{"n": n} for n in range(4)])

    @worker.handler("slow")
    async def handle(job: Job, tx: Tx) -> None:
        await tx.execute("INSERT INTO effects (job_id) VALUES (?)", (job.id,))
        if job.id == ids[0]:  # a handler that computes past the group's time
            until = time.perf_counter() + 2 * AWAITING_S
            while time.perf_counter() < until:
                pass

    assert await worker.run_until_idle() == 4
    assert await _effects(store) == set(ids)
    first = recording.groups()[0]
    assert sum(1 for sql in first if "INSERT INTO effects" in sql) == 1
    assert any(sql.startswith("UPDATE seawall_jobs SET state = 0") for sql in first)


async def test_a_queue_seen_waiting_is_grouped_again_once_quick(store: Store) -> None:
    worker = Worker(store, concurrency=3)
    worker.register("q", _noop)
    worker._note("q", time.perf_counter() - 2 * AWAITING_S)  # a pause looks like a wait
    assert "q" in worker._awaiting
    for _ in range(2):
        worker._note("q", time.perf_counter())
    assert "q" in worker._awaiting
    worker._note("q", time.perf_counter())
    assert "q" not in worker._awaiting


async def _noop(job: Job, tx: Tx) -> None:
    del job, tx


async def test_take_acks_only_held_leases_and_untake_gives_jobs_back(store: Store) -> None:
    queue = Queue(store)
    await queue.enqueue_many("q", [{"n": n} for n in range(3)])
    first, second, third = await queue.claim("q", limit=3)
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE seawall_jobs SET lease_token = 'other-worker' WHERE id = ?", (third.id,)
        )
    async with store.transaction() as tx:
        assert await queue.take([first, second, third], tx=tx) == {first.id, second.id}
        state = await tx.fetchval("SELECT state FROM seawall_jobs WHERE id = ?", (first.id,))
        assert int(state) == 1  # inside the transaction a taken job reads as done
        assert await queue.untake([first], tx=tx) == 1
        assert await queue.nack(first, delay=5.0, error="declined", tx=tx)
    kept = await queue.get_job(first.id)
    assert kept is not None and (kept.state, kept.lease_token) == ("pending", None)
    assert kept.errors[-1]["error"] == "declined"
    done = await queue.get_job(second.id)
    assert done is not None and (done.state, done.lease_token) == ("done", None)
    other = await queue.get_job(third.id)
    assert other is not None and (other.state, other.lease_token) == ("pending", "other-worker")
