"""The job queue as every backend offers it to a producer: the `JobQueue` protocol.

`seawall.jobs.Queue` (SQLite, PostgreSQL) and `seawall.aws.jobs.SqsJobQueue` (SQS, with its
deduplication and outbox items on DynamoDB) both implement it. `tx` is the backend's own
transaction: a SQL `Tx` (the job commits with the caller's writes), or a `DynamoTx` (an outbox
item commits with the caller's writes and is sent to SQS afterwards; README "AWS mode").
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["JobQueue"]


class JobQueue(Protocol):
    """Enqueue a job, at most once per `dedup_key` within the queue's deduplication window."""

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
