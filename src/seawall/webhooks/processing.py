"""The worker side: the job handler running a stored event's handlers in the job's transaction.

Exactly-once for effects in seawall's database: the handlers' writes, the event's final status
and the job's acknowledgement commit in the one transaction the worker opens for the job. The
inbox row's `job_id` names the job entitled to process it: NULL for the job enqueued at receipt
(the only one, since the row is unique), the new job's id after a replay (older jobs then skip).

Failures:
- a pydantic validation error against the handler's model, or `PermanentWebhookError`: the
  handlers' writes are rolled back, the event is marked `failed` with the reason, the job is done;
- any other exception: the handlers' writes are rolled back and the worker retries the job with
  backoff (the job keeps the error history); on the job's last allowed receive the event is marked
  `dead` with the error instead, and the job completes. The inbox row is the webhook's dead letter:
  `list_events(store, status="dead")` finds it and `webhooks.replay` runs it again. (A worker
  killed during the last receive leaves the job in the queue's dead-letter queue and the row
  `received`; redriving that job processes the event.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeGuard

from pydantic import ValidationError

from seawall.jobs.model import Job
from seawall.observability.logging import bind_context
from seawall.store import Row, Tx
from seawall.store.savepoints import open_savepoint, release_savepoint, rollback_savepoint
from seawall.webhooks import inbox
from seawall.webhooks.events import PermanentWebhookError, WebhookEvent
from seawall.webhooks.job_payload import event_of_job
from seawall.webhooks.router import Registration, Router
from seawall.webhooks.shape import read_document

__all__ = [
    "PERMANENT_ERRORS",
    "QUEUE_NAME",
    "describe_failure",
    "event_from_row",
    "make_processor",
    "owned_by",
    "run_handlers",
]

QUEUE_NAME = "seawall.webhooks"
"""The queue that carries one processing job per stored webhook."""

log = logging.getLogger("seawall.webhooks")

_SAVEPOINT = "seawall_webhook_handlers"
_MAX_ERROR_CHARS = 2000


def event_from_row(row: Mapping[str, Any], attempt: int) -> WebhookEvent[Any]:
    """The WebhookEvent a handler sees, from a stored inbox row or item (any backend)."""
    body = bytes(row["body"])
    headers: dict[str, str] = json.loads(row["headers"])
    return WebhookEvent(
        source=row["source"],
        id=row["event_id"],
        type=row["event_type"],
        payload=read_document(body, headers.get("content-type")),
        body=body,
        headers=headers,
        received_at=float(row["received_at"]),
        attempt=attempt,
    )


async def run_handlers(
    registrations: tuple[Registration, ...], event: WebhookEvent[Any], tx: Any
) -> None:
    """Run each matched handler in order with `tx` (a model, when registered, parses first)."""
    for reg in registrations:
        if reg.model is None:
            await reg.handler(event, tx)
        else:
            parsed = reg.model.model_validate(event.payload)
            await reg.handler(event.with_payload(parsed), tx)


def describe_failure(exc: BaseException) -> str:
    """A failure as stored and logged: `Type: message`, at most 2,000 characters."""
    text = f"{type(exc).__name__}: {exc}"
    return text[:_MAX_ERROR_CHARS]


PERMANENT_ERRORS: tuple[type[BaseException], ...] = (ValidationError, PermanentWebhookError)
"""Handler errors retrying cannot help: the event is marked `failed` at once, on every backend."""


def owned_by(row: Row | None, job_id: str, source: str, event_id: str) -> TypeGuard[Row]:
    """True when the stored event exists and `job_id` processes it (a replay's newer job owns
    it otherwise); logs why not."""
    if row is None:
        log.warning(
            "webhook job %s names no stored event (%s/%s); dropping it", job_id, source, event_id
        )
        return False
    if row["job_id"] is not None and row["job_id"] != job_id:
        log.info(
            "webhook %s/%s belongs to job %s; job %s skips it",
            source,
            event_id,
            row["job_id"],
            job_id,
        )
        return False
    return True


def make_processor(
    router: Router, *, clock_time: Callable[[], float]
) -> Callable[[Job, Tx], Awaitable[None]]:
    """The transactional job handler for QUEUE_NAME, running the handlers `router` matches."""
    return _Processor(router, clock_time).process


class _Processor:
    """One webhook job: load its event, run the matched handlers, record the outcome (in `tx`)."""

    def __init__(self, router: Router, clock_time: Callable[[], float]) -> None:
        self.router = router
        self.clock_time = clock_time

    async def process(self, job: Job, tx: Tx) -> None:
        """Process the event `job` names; its outcome commits with the job's ack."""
        source, event_id = event_of_job(job.payload)
        row = await self._row(job, tx, source, event_id)
        if row is None:
            return
        event = event_from_row(row, job.receives)
        bind_context(source=source, event_id=event_id)  # on every line the handlers log
        registrations = self.router.match(source, event.type)
        attempts = int(row["attempts"]) + job.receives  # earlier jobs (replays) + this one
        if not registrations:
            log.warning(
                "no handler for webhook type %r from %s (event %s); marked unhandled",
                event.type,
                source,
                event_id,
            )
            await self._mark(tx, job, event, "unhandled", attempts, None)
            return
        await open_savepoint(tx, _SAVEPOINT)
        try:
            await run_handlers(registrations, event, tx)
        except PERMANENT_ERRORS as exc:
            await rollback_savepoint(tx, _SAVEPOINT)
            log.error(
                "webhook %s/%s (%s) failed permanently: %s",
                source,
                event_id,
                event.type,
                describe_failure(exc),
            )
            await self._mark(tx, job, event, "failed", attempts, describe_failure(exc))
            return
        except Exception as exc:
            if not job.is_last_receive:
                raise
            await rollback_savepoint(tx, _SAVEPOINT)
            log.error(
                "webhook %s/%s (%s) failed on its last attempt (%d): %s",
                source,
                event_id,
                event.type,
                job.receives,
                describe_failure(exc),
            )
            await self._mark(tx, job, event, "dead", attempts, describe_failure(exc))
            return
        await release_savepoint(tx, _SAVEPOINT)
        await self._mark(tx, job, event, "processed", attempts, None)

    @staticmethod
    async def _row(job: Job, tx: Tx, source: str, event_id: str) -> Row | None:
        """The stored event this job processes, or None when there is nothing for it to do."""
        row = await inbox.load_row(tx, source, event_id)
        return row if owned_by(row, job.id, source, event_id) else None

    async def _mark(
        self,
        tx: Tx,
        job: Job,
        event: WebhookEvent[Any],
        status: str,
        attempts: int,
        error: str | None,
    ) -> None:
        """Record the event's outcome in `tx`."""
        await inbox.mark_outcome(
            tx,
            event.source,
            event.id,
            status=status,
            attempts=attempts,
            error=error,
            processed_at=self.clock_time(),
            job_id=job.id,
        )
