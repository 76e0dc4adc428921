"""Jobs on SQS for consumers: `SqsJobWorker`, a Lambda handler running job handlers by queue name.

It takes the job handlers the SQL `Worker` takes with `transactional=False` (`handler(job)`; an
SQS message cannot commit with a database write, so a handler whose effects must be atomic writes
them in a `DynamoTx` of its own) and runs each record of an SQS batch (sent by `SqsJobProducer`)
concurrently:

- success: the message is acknowledged (left out of `batchItemFailures`);
- `RetryLater(delay)`, or any other exception (after a jittered backoff): the message's
  visibility is set to the delay (whole seconds, at least 1) and it is reported failed, so SQS
  delivers it again; each delivery counts a receive, as in the SQL queue;
- a failure on the job's last receive (`Job.is_last_receive`, from SQS's
  `ApproximateReceiveCount` and the job's `max_receives`) dead-letters it at once: the message is
  sent to the dead-letter queue (with the error) and acknowledged. Messages whose Lambda crashed
  reach the dead-letter queue through the queue's redrive policy instead (set its
  `maxReceiveCount` above the jobs' `max_receives`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from seawall.aws.sqs import SqsMessage, SqsQueue, message_from_record
from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.jobs.backoff import default_backoff, retry_delay
from seawall.jobs.model import Job, RetryLater
from seawall.observability.logging import reset_context, set_context
from seawall.resilience.backoff import Backoff

__all__ = ["JobHandler", "SqsJobWorker"]

log = logging.getLogger("seawall.aws")

JobHandler = Callable[[Job], Awaitable[Any]]
"""`handler(job)`: raise to retry later (`RetryLater` for a chosen delay)."""


class SqsJobWorker:
    """A Lambda handler `(event, context) -> {"batchItemFailures": [...]}` for jobs on `queue`."""

    def __init__(
        self, queue: SqsQueue, *, backoff: Backoff | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.queue = queue
        self.backoff = backoff if backoff is not None else default_backoff()
        self.clock = clock
        self.dead_lettered = 0
        self._routes: dict[str, JobHandler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def register(
        self, queue_name: str, handler: JobHandler, *, transactional: bool = False
    ) -> None:
        """Run `handler(job)` for the jobs of `queue_name` (never transactional on SQS)."""
        if transactional:
            raise ValueError(
                "jobs on SQS run without a transaction: register with transactional=False and "
                "write effects that must be atomic in a DynamoTx of the handler's own"
            )
        if queue_name in self._routes:
            raise ValueError(f"queue {queue_name!r} already has a handler")
        self._routes[queue_name] = handler

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Handle one SQS batch; answer with the messages to deliver again."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()  # kept across warm invocations
        return self._loop.run_until_complete(self.invoke(event, context))

    async def invoke(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The same, on the running event loop."""
        messages = [message_from_record(dict(r)) for r in event.get("Records") or []]
        done = await asyncio.gather(*(self._one(m) for m in messages))
        failed = [m.id for m, ok in zip(messages, done, strict=True) if not ok]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    async def _one(self, message: SqsMessage) -> bool:
        """Run one job; True when its message is to be acknowledged."""
        try:
            job = _job(message, self.clock.time())
        except (ValueError, KeyError, TypeError):
            log.error("message %s is not a job (%r)", message.id, message.body[:200])
            await self._dead(message, "not a job")
            return True
        token = set_context({"job_id": job.id, "queue": job.queue})
        try:
            handler = self._routes.get(job.queue)
            if handler is None:
                raise LookupError(f"no handler for queue {job.queue!r}")
            await handler(job)
            return True
        except RetryLater as retry:
            return await self._failed(message, job, retry.delay, retry.reason or "retry later")
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            return await self._failed(message, job, retry_delay(self.backoff, job), error)
        finally:
            reset_context(token)

    async def _failed(self, message: SqsMessage, job: Job, delay: float, error: str) -> bool:
        if job.is_last_receive:
            log.warning(
                "job %s (%s) failed on its last receive (%d of %d), dead-lettered: %s",
                job.id,
                job.queue,
                job.receives,
                job.max_receives,
                error,
            )
            await self._dead(message, error)
            return True
        seconds = max(1, math.ceil(delay))
        try:
            await asyncio.to_thread(self.queue.retry_later, message.receipt, seconds)
        except Exception as exc:  # SQS redelivers after the queue's visibility timeout anyway
            log.warning("could not set the retry delay of job %s: %s", job.id, exc)
        return False

    async def _dead(self, message: SqsMessage, error: str) -> None:
        self.dead_lettered += 1
        if self.queue.dead_letter_url:
            body = json.dumps({"job": message.body, "error": error}, separators=(",", ":"))
            await asyncio.to_thread(
                self.queue.clients.sqs.send_message,
                QueueUrl=self.queue.dead_letter_url,
                MessageBody=body,
            )


def _job(message: SqsMessage, now: float) -> Job:
    """The Job a message sent by `SqsJobProducer` carries (receives from SQS's count)."""
    body = json.loads(message.body)
    return Job(
        id=str(body["id"]),
        queue=str(body["queue"]),
        payload=dict(body["payload"]),
        receives=message.receives,
        max_receives=int(body["max_receives"]),
        priority=0,
        lease_token=message.receipt,
        enqueued_at=float(body["enqueued_at"]),
        visible_at=now,
        dedup_key=body.get("dedup_key"),
    )
