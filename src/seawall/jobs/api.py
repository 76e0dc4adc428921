"""The queue as every engine offers it: the `JobQueue` protocol, and the producer's `JobProducer`.

`Queue` (SQLite, PostgreSQL) implements it, and on AWS `seawall.aws.sqs_jobs.SqsJobQueue` over
an SQS queue and its dead-letter queue. `tests/contracts/test_queue_contract.py` runs one suite,
typed against this protocol, on all three.

The protocol holds what producers, consumers and operators share: enqueue, claim a batch with a
lease (each claim counts a receive), ack, nack (give back, dead-lettered at the receive limit),
extend a lease, stats, the dead letters (list, look up, redrive, purge). Each engine keeps its
extras beyond it: the SQL queue enqueues and acks in a caller's transaction (`tx=`),
deduplicates and prioritises; SQS has FIFO message groups and delays of at most 15 minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from seawall.jobs.model import DeadLetter, Job, QueueStats

if TYPE_CHECKING:
    from seawall.jobs.queue import Queue

__all__ = ["JobProducer", "JobQueue"]


class JobQueue(Protocol):
    """Named queues of JSON jobs with leases, receive counts and a dead-letter queue."""

    async def enqueue(
        self, queue_name: str, payload: dict[str, Any], *, delay: float = 0.0
    ) -> str | None:
        """Add one job, visible after `delay` seconds; its id (None when deduplicated)."""
        ...

    async def enqueue_many(
        self, queue_name: str, payloads: Sequence[dict[str, Any]], *, delay: float = 0.0
    ) -> list[str | None]:
        """Add many jobs; their ids in order."""
        ...

    async def claim(
        self, queue_name: str, *, limit: int = 1, visibility_timeout: float = 30.0
    ) -> list[Job]:
        """Lease up to `limit` ready jobs for `visibility_timeout` seconds (one receive each)."""
        ...

    async def ack(self, job: Job) -> bool:
        """Finish the job if its lease still holds; False otherwise."""
        ...

    async def ack_many(self, jobs: Sequence[Job]) -> int:
        """Finish many jobs; how many were still held by their lease."""
        ...

    async def nack(self, job: Job, *, delay: float = 0.0, error: str | None = None) -> bool:
        """Give the job back, visible after `delay`; False when the lease was already lost."""
        ...

    async def extend(self, job: Job, seconds: float) -> bool:
        """Keep the lease for `seconds` more from now; False when it was already lost."""
        ...

    async def stats(self) -> list[QueueStats]:
        """Depth figures per queue: ready, in flight, delayed, done, dead."""
        ...

    async def dead_letters(
        self, queue_name: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[DeadLetter]:
        """Up to `limit` dead letters after the first `offset`, optionally of one queue."""
        ...

    async def dead_letter(self, job_id: str) -> DeadLetter | None:
        """One dead letter by job id, or None."""
        ...

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id (SQS: only a dead letter), or None."""
        ...

    async def redrive(
        self,
        ids: Sequence[str] | None = None,
        queue_name: str | None = None,
        *,
        rate_per_s: float | None = None,
    ) -> int:
        """Move dead letters back to their queue (at most `rate_per_s` a second); how many."""
        ...

    async def purge_dead_letters(
        self, queue_name: str | None = None, ids: Sequence[str] | None = None
    ) -> int:
        """Delete dead letters for good; how many."""
        ...


class JobProducer(Protocol):
    """The producer's side, as `PaymentGatewayService` enqueues: once per `dedup_key`, in `tx`.

    `tx` is the backend's own transaction: a SQL `Tx` (the job commits with the caller's
    writes), or a `DynamoTx` (on AWS, `seawall.aws.jobs.SqsJobProducer` writes an outbox item
    that commits with the caller's writes and is sent to SQS afterwards; README "AWS mode").
    """

    async def enqueue(
        self,
        queue_name: str,
        payload: dict[str, Any],
        *,
        tx: Any = None,
        dedup_key: str | None = None,
        max_receives: int | None = None,
    ) -> str | None:
        """Add one job (in `tx` when given); its id, or None when `dedup_key` was seen."""
        ...


def _sql_queue_conforms(queue: Queue) -> JobQueue:
    """A static check (mypy) that the SQL queue implements the protocol."""
    return queue


def _sql_queue_produces(queue: Queue) -> JobProducer:
    """A static check (mypy) that the SQL queue is a producer too."""
    return queue
