"""`SqsJobQueue`: one SQS queue (and its dead-letter queue) behind the `JobQueue` protocol.

Jobs are JSON message bodies; a claim is a ReceiveMessage (no long polling) whose receipt handle
is the job's lease token; ack deletes, nack and extend change the message's visibility, and the
queue's redrive policy (`max_receives`, the queue's maxReceiveCount) dead-letters a job. Beyond
the SQL queue's rules: the queue serves one queue name; delays and leases are whole seconds
(rounded up; delays up to 15 minutes); a claim returns at most 10 jobs; a nack's error is not
kept (SQS stores no error history); stats count no finished jobs (SQS deletes them); redrive
moves and purges the whole dead-letter queue (SQS cannot pick messages by id).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from typing import Any

from seawall.aws.sqs import SqsMessage, SqsQueue
from seawall.jobs.api import JobQueue
from seawall.jobs.model import DeadLetter, InvalidJobError, Job, QueueStats

__all__ = ["PEEK_ALL", "SqsJobQueue"]

PEEK_ALL = 10_000
"""The most dead letters a look by id reads (SQS looks up no message by id)."""


class SqsJobQueue:
    """The queue named `name` on SQS, as the async `JobQueue` every engine implements."""

    def __init__(self, queue: SqsQueue, name: str, *, max_receives: int) -> None:
        self.queue = queue
        self.name = name
        self.max_receives = max_receives

    def _check(self, queue_name: str | None) -> None:
        if queue_name is not None and queue_name != self.name:
            raise InvalidJobError(f"this SQS queue serves {self.name!r}, not {queue_name!r}")

    async def enqueue(
        self, queue_name: str, payload: dict[str, Any], *, delay: float = 0.0
    ) -> str | None:
        """Send one job; its SQS message id."""
        [job_id] = await self.enqueue_many(queue_name, [payload], delay=delay)
        return job_id

    async def enqueue_many(
        self, queue_name: str, payloads: Sequence[dict[str, Any]], *, delay: float = 0.0
    ) -> list[str | None]:
        """Send jobs in batches of up to 10; their SQS message ids in order."""
        self._check(queue_name)
        bodies = [json.dumps(p, separators=(",", ":")) for p in payloads]
        ids = await asyncio.to_thread(self.queue.send_many, bodies, delay_s=_seconds(delay))
        return list(ids)

    async def claim(
        self, queue_name: str, *, limit: int = 1, visibility_timeout: float = 30.0
    ) -> list[Job]:
        """Receive up to `limit` (at most 10) jobs, hidden for `visibility_timeout` seconds."""
        self._check(queue_name)
        lease = _seconds(visibility_timeout)
        messages = await asyncio.to_thread(
            self.queue.receive, max_messages=limit, wait_s=0, visibility_timeout_s=lease
        )
        visible_at = time.time() + lease
        return [self._job(m, visible_at) for m in messages]

    def _job(self, message: SqsMessage, visible_at: float) -> Job:
        return Job(
            id=message.id,
            queue=self.name,
            payload=json.loads(message.body),
            receives=message.receives,
            max_receives=self.max_receives,
            priority=0,
            lease_token=message.receipt,
            enqueued_at=_sent_at(message),
            visible_at=visible_at,
        )

    async def ack(self, job: Job) -> bool:
        """Delete the job's message; False when SQS deleted none."""
        return await self.ack_many([job]) == 1

    async def ack_many(self, jobs: Sequence[Job]) -> int:
        """Delete the jobs' messages; how many SQS deleted."""
        return await asyncio.to_thread(self.queue.delete_many, [_receipt(j) for j in jobs])

    async def nack(self, job: Job, *, delay: float = 0.0, error: str | None = None) -> bool:
        """Make the job visible again after `delay` (SQS keeps no `error`); False when its
        lease was lost."""
        return await self._visible_in(job, _seconds(delay))

    async def extend(self, job: Job, seconds: float) -> bool:
        """Keep the job hidden for `seconds` more from now; False when its lease was lost."""
        if seconds <= 0:
            raise InvalidJobError(f"extend needs seconds > 0 (got {seconds})")
        return await self._visible_in(job, _seconds(seconds))

    async def _visible_in(self, job: Job, seconds: int) -> bool:
        try:
            await asyncio.to_thread(self.queue.retry_later, _receipt(job), seconds)
        except Exception as exc:
            if _lease_lost(exc):
                return False
            raise
        return True

    async def stats(self) -> list[QueueStats]:
        """SQS's approximate counts for the queue (no finished jobs: SQS deleted them)."""
        counts = await asyncio.to_thread(self.queue.stats)
        return [
            QueueStats(
                queue=self.name,
                ready=counts.ready,
                in_flight=counts.in_flight,
                delayed=counts.delayed,
                done=0,
                dead=counts.dead,
                oldest_ready_age_s=None,
            )
        ]

    async def dead_letters(
        self, queue_name: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[DeadLetter]:
        """Up to `limit` messages of the dead-letter queue after the first `offset` (left in it;
        SQS returns them in no set order)."""
        self._check(queue_name)
        if limit < 1 or offset < 0:
            raise InvalidJobError("dead_letters needs limit >= 1 and offset >= 0")
        messages = await asyncio.to_thread(self.queue.peek_dead_letters, offset + limit)
        return [self._dead(m) for m in messages[offset:]]

    async def dead_letter(self, job_id: str) -> DeadLetter | None:
        """The dead letter with this message id, or None (a look through the whole DLQ)."""
        messages = await asyncio.to_thread(self.queue.peek_dead_letters, PEEK_ALL)
        return next((self._dead(m) for m in messages if m.id == job_id), None)

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id when it is a dead letter (SQS looks up no other message by id)."""
        dead = await self.dead_letter(job_id)
        if dead is None:
            return None
        return Job(
            id=dead.id,
            queue=dead.queue,
            payload=dead.payload,
            receives=dead.receives,
            max_receives=dead.max_receives,
            priority=0,
            lease_token=None,
            enqueued_at=dead.enqueued_at,
            visible_at=dead.dead_at,
            state="dead",
        )

    def _dead(self, message: SqsMessage) -> DeadLetter:
        return DeadLetter(
            id=message.id,
            queue=self.name,
            payload=json.loads(message.body),
            receives=message.receives,
            max_receives=self.max_receives,
            priority=0,
            enqueued_at=_sent_at(message),
            dead_at=_sent_at(message),
            reason="receive limit reached",
        )

    async def redrive(
        self,
        ids: Sequence[str] | None = None,
        queue_name: str | None = None,
        *,
        rate_per_s: float | None = None,
    ) -> int:
        """Move every dead letter back to the queue (`SqsQueue.redrive`); how many moved or
        the server-side move covers (`ids` is refused)."""
        self._check(queue_name)
        if ids is not None:
            raise InvalidJobError(
                "SQS redrives the whole dead-letter queue, not chosen ids: redrive all"
            )
        if rate_per_s is not None and rate_per_s <= 0:
            raise InvalidJobError(f"rate_per_s must be > 0 (got {rate_per_s})")
        return await asyncio.to_thread(lambda: self.queue.redrive(rate_per_s=rate_per_s))

    async def purge_dead_letters(
        self, queue_name: str | None = None, ids: Sequence[str] | None = None
    ) -> int:
        """Delete every dead letter (SQS PurgeQueue, once a minute at most); how many there
        were (`ids` is refused: SQS cannot pick messages by id)."""
        self._check(queue_name)
        if ids is not None:
            raise InvalidJobError("SQS purges the whole dead-letter queue, not chosen ids")
        counts = await asyncio.to_thread(self.queue.stats)
        await asyncio.to_thread(self.queue.purge_dead_letters)
        return counts.dead


def _seconds(value: float) -> int:
    """Whole seconds for SQS, rounded up (a lease never ends early)."""
    if value < 0:
        raise InvalidJobError(f"seconds must be >= 0 (got {value})")
    return math.ceil(value)


def _receipt(job: Job) -> str:
    if not job.lease_token:
        raise InvalidJobError(f"job {job.id} carries no receipt handle: claim it first")
    return job.lease_token


def _lease_lost(exc: Exception) -> bool:
    """SQS refused a visibility change because the message is no longer ours: not in flight,
    an unknown receipt, or (SQS's answer for a deleted message) an invalid receipt parameter."""
    error = getattr(exc, "response", {}).get("Error", {})
    code = str(error.get("Code", ""))
    return code.endswith(("MessageNotInflight", "ReceiptHandleIsInvalid")) or (
        code == "InvalidParameterValue" and "ReceiptHandle" in str(error.get("Message", ""))
    )


def _sent_at(message: SqsMessage) -> float:
    """When SQS first received the message (epoch seconds), or 0 when not reported."""
    return int(message.attributes.get("SentTimestamp", 0)) / 1000


def _conforms(queue: SqsJobQueue) -> JobQueue:
    """A static check (mypy) that the SQS queue implements the protocol."""
    return queue
