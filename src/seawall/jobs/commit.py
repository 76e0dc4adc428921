"""Commit-block handlers: do the slow I/O first, then commit effects and the ack together.

A handler registered with `commit_block=True` is called with a `JobRun` instead of `(job, tx)`:

    @worker.handler("emails", commit_block=True)
    async def send(run: JobRun) -> None:
        receipt = await mailer.send(run.payload["to"])      # no transaction, no lock held
        async with run.commit() as tx:                       # a short write transaction
            await tx.execute("INSERT INTO sent (id, receipt) VALUES (?, ?)", (run.id, receipt))
        # the block's effects and the job's ack committed together, or neither did

Such handlers run side by side up to the worker's concurrency on every engine, because no
transaction is open while they wait (on SQLite the single write lock is held only for the
block). The ack inside the block is guarded by the lease: when the lease was lost meanwhile (the
job was handed to another worker), the block raises LeaseLostError and its effects roll back.
A handler that returns without opening the block is acked afterwards, at least once (like a
non-transactional handler). Exactly-once covers the database effects inside the block; the I/O
before it runs again if the worker dies before the block commits, as with any queue.
On PostgreSQL the worker commits concurrent blocks together (see `seawall.jobs.commit_group`):
each block still commits or rolls back on its own, and returns only after its commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from seawall.jobs.commit_group import CommitGroups
from seawall.jobs.model import Job, JobError, LeaseLostError
from seawall.store.base import Statement, Store, Tx

if TYPE_CHECKING:
    from seawall.jobs.queue import Queue

__all__ = ["JobRun"]


class JobRun:
    """One run of a job by a commit-block handler: the job's facts and its `commit()` block."""

    __slots__ = ("_groups", "_queue", "_store", "committed", "job")

    def __init__(
        self, job: Job, store: Store, queue: Queue, groups: CommitGroups | None = None
    ) -> None:
        self.job = job
        self._store = store
        self._queue = queue
        self._groups = groups
        self.committed = False
        """True once the commit block (effects and ack) has committed."""

    @property
    def id(self) -> str:
        """The job's id."""
        return self.job.id

    @property
    def queue(self) -> str:
        """The job's queue."""
        return self.job.queue

    @property
    def payload(self) -> dict[str, Any]:
        """The job's payload."""
        return self.job.payload

    @property
    def receives(self) -> int:
        """This run's receive number (1 on the first try)."""
        return self.job.receives

    @property
    def max_receives(self) -> int:
        """The receive after which the job goes to the dead-letter queue."""
        return self.job.max_receives

    @asynccontextmanager
    async def commit(self, *, with_ack: Sequence[Statement] = ()) -> AsyncIterator[Tx]:
        """A write transaction in which the job's ack commits with the block's effects.

        `with_ack` are statements of the caller's that run right after the ack (in the same
        round trip where the engine can) and commit or roll back with the block."""
        if self.committed:
            raise JobError(f"job {self.job.id}: commit() may be used once per run")
        scope = self._store.transaction() if self._groups is None else self._groups.block()
        async with scope as tx:
            ride = getattr(tx, "ride_with_first", None) if with_ack else None
            if ride is not None:  # the ack is the first statement of a group's block
                for sql, params in with_ack:
                    ride(sql, params)
            # The ack comes first: a lost lease is found before any effect is written, and on
            # PostgreSQL the job's row stays locked until the block commits.
            if not await self._queue.ack(self.job, tx=tx):
                raise LeaseLostError(self.job.id)
            if ride is None:
                for sql, params in with_ack:
                    await tx.execute(sql, params)
            yield tx
        self.committed = True
