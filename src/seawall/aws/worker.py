"""The webhook worker as a Lambda function on an SQS event source, with partial batch responses.

Each record names a stored event (`{"source", "event_id"}`). The worker reads the inbox item
(consistent read); an event that is no longer `received` was handled by an earlier delivery and
its message is simply acknowledged. Otherwise the matched handlers run with a `DynamoTx`; their
effects and the inbox mark (conditional on `received`) commit in one TransactWriteItems, so a
redelivered message that finds the mark changes nothing (guarantee 2 on AWS).

Failures: a permanent one (`PermanentWebhookError`, a payload the handler's model refuses) marks
the event `failed`; any other is retried by SQS after a jittered backoff set through the
message's visibility timeout and is reported in `batchItemFailures` (enable
`ReportBatchItemFailures` on the event source). On the receive that reaches `max_receives` (set it
equal to the queue's `maxReceiveCount`), the event is marked `dead` in the inbox and its message
acknowledged: the inbox is the dead-letter view, and replay puts it back. Messages whose Lambda
crashed or timed out on their last receive reach the SQS dead-letter queue instead.

On a FIFO queue the records of one message group run in order; at the first failure the rest of
that group is reported failed without running (other groups go on).

The whole batch runs under a deadline of the Lambda's remaining time minus `margin_s`, so an
outbound call made by a handler never outlives the invocation (the guide's "timeout below the
Lambda timeout", set automatically).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from seawall.aws.clients import AwsClients
from seawall.aws.inbox import MARK_LABEL, DynamoInbox
from seawall.aws.sqs import SqsMessage, SqsQueue, message_from_record
from seawall.aws.transact import DynamoTx, TransactionCancelledError
from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.observability.logging import reset_context, set_context
from seawall.resilience.backoff import Backoff, ExponentialJitter
from seawall.resilience.deadline import Deadline
from seawall.webhooks.job_payload import event_of_job
from seawall.webhooks.processing import (
    PERMANENT_ERRORS,
    describe_failure,
    event_from_row,
    run_handlers,
)
from seawall.webhooks.router import Router

__all__ = ["BatchOutcome", "SqsWebhookWorker"]

log = logging.getLogger("seawall.aws")


@dataclass
class BatchOutcome:
    """What one batch did: message ids by outcome (`failed` go back to SQS)."""

    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Messages whose event was already handled (a redelivery) or is not stored."""
    unhandled: list[str] = field(default_factory=list)
    permanent: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        """The partial batch response: the failed messages SQS must deliver again."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failed]}


class SqsWebhookWorker:
    """A Lambda handler `(event, context) -> {"batchItemFailures": [...]}` for webhook jobs."""

    def __init__(
        self,
        router: Router,
        inbox: DynamoInbox,
        queue: SqsQueue,
        *,
        max_receives: int = 3,
        backoff: Backoff | None = None,
        margin_s: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if max_receives < 1:
            raise ValueError("max_receives must be >= 1 (the queue's maxReceiveCount)")
        self.router = router
        self.inbox = inbox
        self.queue = queue
        self.clients: AwsClients = inbox.clients
        self.max_receives = max_receives
        self.backoff = backoff if backoff is not None else ExponentialJitter(base=1.0, cap=300.0)
        self.margin_s = margin_s
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Handle one SQS batch; answer with the messages to deliver again."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()  # kept across warm invocations
        return self._loop.run_until_complete(self.invoke(event, context))

    async def invoke(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The same, on the running event loop (a local poller's)."""
        outcome = await self.process(list(event.get("Records") or []), context)
        return outcome.response()

    async def process(
        self, records: Sequence[Mapping[str, Any]], context: Any = None
    ) -> BatchOutcome:
        """Process the records (concurrently; in order per FIFO group) under the deadline."""
        outcome = BatchOutcome()
        messages = [message_from_record(dict(r)) for r in records]
        remaining = _remaining_s(context)
        if remaining is None:
            await self._all(messages, outcome)
        else:
            with Deadline(max(0.001, remaining - self.margin_s), clock=self.clock):
                await self._all(messages, outcome)
        return outcome

    async def _all(self, messages: list[SqsMessage], outcome: BatchOutcome) -> None:
        if not self.queue.fifo:
            await asyncio.gather(*(self._one(m, outcome) for m in messages))
            return
        groups: dict[str, list[SqsMessage]] = {}
        for message in messages:
            groups.setdefault(message.group_id or "", []).append(message)
        await asyncio.gather(*(self._group(g, outcome) for g in groups.values()))

    async def _group(self, messages: list[SqsMessage], outcome: BatchOutcome) -> None:
        for index, message in enumerate(messages):
            await self._one(message, outcome)
            if message.id in outcome.failed:
                outcome.failed.extend(m.id for m in messages[index + 1 :])
                return

    async def _one(self, message: SqsMessage, outcome: BatchOutcome) -> None:
        token = set_context({"job_id": message.id, "queue": "sqs"})
        try:
            kind = await self._handle(message)
        except Exception:
            log.exception("webhook message %s could not be processed", message.id)
            kind = "failed"
        finally:
            reset_context(token)
        getattr(outcome, kind).append(message.id)

    async def _handle(self, message: SqsMessage) -> str:
        try:
            source, event_id = event_of_job(json.loads(message.body))
        except (ValueError, AttributeError):
            log.error(
                "message %s is not a webhook job (%r); leaving it to the DLQ",
                message.id,
                message.body[:200],
            )
            return "failed"
        set_context({"job_id": message.id, "queue": "sqs", "source": source, "event_id": event_id})
        row = await asyncio.to_thread(self.inbox.load, source, event_id)
        if row is None:
            log.warning(
                "message %s names no stored event (%s/%s); dropping it",
                message.id,
                source,
                event_id,
            )
            return "skipped"
        if row.get("status") != "received":
            return "skipped"  # handled by an earlier delivery of this event
        event = event_from_row(row, message.receives)
        attempts = int(row.get("attempts") or 0) + message.receives
        registrations = self.router.match(source, event.type)
        if not registrations:
            log.warning(
                "no handler for webhook type %r from %s (event %s); marked unhandled",
                event.type,
                source,
                event_id,
            )
            await self._mark(message, source, event_id, "unhandled", attempts, None)
            return "unhandled"
        tx = DynamoTx(self.clients)
        try:
            await run_handlers(registrations, event, tx)
        except PERMANENT_ERRORS as exc:
            log.error(
                "webhook %s/%s (%s) failed permanently: %s",
                source,
                event_id,
                event.type,
                describe_failure(exc),
            )
            await self._mark(message, source, event_id, "failed", attempts, describe_failure(exc))
            return "permanent"
        except Exception as exc:
            return await self._failed(message, source, event_id, attempts, describe_failure(exc))
        self.inbox.mark_in(
            tx,
            source,
            event_id,
            status="processed",
            attempts=attempts,
            error=None,
            processed_at=self.clock.time(),
            job_id=message.id,
        )
        try:
            await asyncio.to_thread(tx.commit)
        except TransactionCancelledError as exc:
            if exc.failed(MARK_LABEL):
                return "skipped"  # another delivery committed first; nothing of ours landed
            return await self._failed(message, source, event_id, attempts, str(exc))
        return "processed"

    async def _failed(
        self, message: SqsMessage, source: str, event_id: str, attempts: int, error: str
    ) -> str:
        if message.receives >= self.max_receives:
            log.warning(
                "webhook %s/%s failed on its last attempt (%d of %d), marked dead: %s",
                source,
                event_id,
                message.receives,
                self.max_receives,
                error.splitlines()[0] if error else "",
                extra={"attempt": message.receives, "max_attempts": self.max_receives},
            )
            await self._mark(message, source, event_id, "dead", attempts, error)
            return "dead"
        delay = max(0, round(self.backoff.delay(message.receives, 0.0)))
        log.warning(
            "webhook %s/%s failed (attempt %d of %d); it runs again in %d s: %s",
            source,
            event_id,
            message.receives,
            self.max_receives,
            delay,
            error.splitlines()[0] if error else "",
            extra={
                "attempt": message.receives,
                "max_attempts": self.max_receives,
                "retry_in_s": delay,
            },
        )
        if message.receipt:
            try:
                await asyncio.to_thread(self.queue.retry_later, message.receipt, delay)
            except Exception as exc:  # SQS still redelivers after the queue's visibility timeout
                log.warning("could not set the retry delay of message %s: %s", message.id, exc)
        return "failed"

    async def _mark(
        self,
        message: SqsMessage,
        source: str,
        event_id: str,
        status: str,
        attempts: int,
        error: str | None,
    ) -> None:
        await asyncio.to_thread(
            self.inbox.mark,
            source,
            event_id,
            status=status,
            attempts=attempts,
            error=error,
            processed_at=self.clock.time(),
            job_id=message.id,
        )


def _remaining_s(context: Any) -> float | None:
    """Seconds left in the invocation, from `context.get_remaining_time_in_millis()`."""
    reader = getattr(context, "get_remaining_time_in_millis", None)
    if reader is None:
        return None
    return float(reader()) / 1000.0
