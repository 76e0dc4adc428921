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

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from seawall.jobs.commit_group import CommitGroups
from seawall.jobs.model import Job, JobError, LeaseLostError
from seawall.store.base import Statement, Store, Tx

if TYPE_CHECKING:
    from seawall.jobs.queue import Queue

__all__ = ["JobRun", "Successor"]


Successor = Callable[[], "tuple[Statement, Callable[[bool], None]] | None"]
"""A worker's hook for the job its runner takes next: the statement that counts that job's
start, to commit with this block, and a callback told whether it committed (None: no job)."""


class JobRun:
    """One run of a job by a commit-block handler: the job's facts and its `commit()` block."""

    __slots__ = ("_groups", "_queue", "_store", "_successor", "committed", "job")

    def __init__(
        self,
        job: Job,
        store: Store,
        queue: Queue,
        groups: CommitGroups | None = None,
        successor: Successor | None = None,
    ) -> None:
        self.job = job
        self._store = store
        self._queue = queue
        self._groups = groups
        self._successor = successor
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
        # The start of the job this runner takes next commits with this block: the runner
        # then starts it without a write of its own (and a crash before this commit counts
        # neither).
        successor = self._successor() if self._successor is not None else None
        riders = [*with_ack, successor[0]] if successor is not None else list(with_ack)
        scope = self._store.transaction() if self._groups is None else self._groups.block()
        try:
            async with scope as tx:
                ride = getattr(tx, "ride_with_first", None) if riders else None
                if ride is not None:  # the ack is the first statement of a group's block
                    for sql, params in riders:
                        ride(sql, params)
                # The ack comes first: a lost lease is found before any effect is written, and
                # on PostgreSQL the job's row stays locked until the block commits.
                if not await self._queue.ack(self.job, tx=tx):
                    raise LeaseLostError(self.job.id)
                if ride is None:
                    for sql, params in riders:
                        await tx.execute(sql, params)
                yield tx
        except BaseException:
            if successor is not None:
                successor[1](False)
            raise
        if successor is not None:
            successor[1](True)
        self.committed = True
