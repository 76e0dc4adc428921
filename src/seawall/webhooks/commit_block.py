"""Webhook handlers that await I/O: slow work first, then effects, mark and ack in one block.

A handler registered with `commit_block=True` is called as `handler(event, run)`:

    @webhooks.on("payment.completed", commit_block=True)
    async def record(event, run):
        receipt = await ledger_api.post(event.payload)        # no transaction, no lock held
        async with run.commit() as tx:                         # a short write transaction
            await tx.execute("INSERT INTO receipts VALUES (?, ?)", (event.id, receipt))
        # the receipt, the event's `processed` mark and its job's ack committed together

Such events are queued on the processing queue's `.io` twin (chosen when the event is stored or
replayed), whose jobs the worker runs as commit-block jobs: side by side up to its concurrency on
every engine, because no transaction is open while a handler waits (on SQLite the one write lock
is held only for the block). Transactional handlers that match the same event run inside the
block, before its body. A handler that returns without opening the block gets the mark and the
ack committed afterwards. Failures follow the transactional path's rules: a permanent error marks
the event `failed`, a failure on the last receive marks it `dead`, any other is retried. The I/O
before the block runs again if a worker dies before the block commits, as with any queue.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from seawall.jobs.commit import JobRun
from seawall.observability.logging import bind_context
from seawall.store import Store, Tx
from seawall.store.base import Statement
from seawall.webhooks import inbox
from seawall.webhooks.events import WebhookEvent
from seawall.webhooks.inbox_reads import InboxReads
from seawall.webhooks.job_payload import event_of_job
from seawall.webhooks.processing import (
    PERMANENT_ERRORS,
    describe_failure,
    event_from_row,
    owned_by,
    run_handlers,
)
from seawall.webhooks.router import Registration, Router

__all__ = ["WebhookRun", "io_queue_name", "make_commit_block_processor"]

log = logging.getLogger("seawall.webhooks")


def io_queue_name(queue_name: str) -> str:
    """The queue whose jobs run commit-block webhook handlers, beside `queue_name`."""
    return f"{queue_name}.io"


class WebhookRun:
    """One processing run of an event by a commit-block handler, and its `commit()` block."""

    def __init__(
        self,
        job_run: JobRun,
        event: WebhookEvent[Any],
        others: tuple[Registration, ...],
        mark: Callable[[str, str | None], Statement],
    ) -> None:
        self.job_run = job_run
        self.event = event
        self._others = others
        self._mark = mark

    @property
    def committed(self) -> bool:
        """True once the block (effects, mark and ack) has committed."""
        return self.job_run.committed

    @property
    def attempt(self) -> int:
        """This run's receive number (1 on the first try)."""
        return self.job_run.receives

    @asynccontextmanager
    async def commit(self) -> AsyncIterator[Tx]:
        """A write transaction in which the event's mark and its job's ack commit with the
        block's effects (and those of the transactional handlers matching the event)."""
        # The mark travels with the ack (one round trip on PostgreSQL); if the block fails,
        # it rolls back with the block's effects.
        async with self.job_run.commit(with_ack=[self._mark("processed", None)]) as tx:
            if self._others:
                await run_handlers(self._others, self.event, tx)
            yield tx


def make_commit_block_processor(
    router: Router, store: Store, *, clock_time: Callable[[], float]
) -> Callable[[JobRun], Awaitable[None]]:
    """The commit-block job handler of the `.io` processing queue."""

    reads = InboxReads(store)

    async def process(job_run: JobRun) -> None:
        source, event_id = event_of_job(job_run.payload)
        row = await reads.load(source, event_id)
        if not owned_by(row, job_run.id, source, event_id):
            return
        event = event_from_row(row, job_run.receives)
        bind_context(source=source, event_id=event_id)
        attempts = int(row["attempts"]) + job_run.receives

        def mark(status: str, error: str | None) -> Statement:
            return inbox.outcome_statement(
                source,
                event_id,
                status=status,
                attempts=attempts,
                error=error,
                processed_at=clock_time(),
                job_id=job_run.id,
            )

        registrations = router.match(source, event.type)
        blocks = [r for r in registrations if r.commit_block]
        others = tuple(r for r in registrations if not r.commit_block)
        if len(blocks) != 1:
            await _final(job_run, mark, blocks, others, event)
            return
        run = WebhookRun(job_run, event, others, mark)
        try:
            [block] = blocks
            payload = block.model.model_validate(event.payload) if block.model else None
            await block.handler(event if payload is None else event.with_payload(payload), run)
        except PERMANENT_ERRORS as exc:
            if run.committed:
                raise
            log.error(
                "webhook %s/%s failed permanently: %s", source, event_id, describe_failure(exc)
            )
            async with job_run.commit(with_ack=[mark("failed", describe_failure(exc))]):
                pass
            return
        except Exception as exc:
            if run.committed or not job_run.job.is_last_receive:
                raise
            log.error(
                "webhook %s/%s failed on its last attempt (%d): %s",
                source,
                event_id,
                job_run.receives,
                describe_failure(exc),
            )
            async with job_run.commit(with_ack=[mark("dead", describe_failure(exc))]):
                pass
            return
        if not run.committed:  # the handler needed no block: commit the mark and the ack now
            async with run.commit():
                pass

    return process


async def _final(
    job_run: JobRun,
    mark: Callable[[str, str | None], Statement],
    blocks: list[Registration],
    others: tuple[Registration, ...],
    event: WebhookEvent[Any],
) -> None:
    """Not exactly one commit-block handler matches (the handlers changed since the event was
    queued, or two match): run the others in one block, or mark the event, saying why."""
    if len(blocks) > 1:
        reason = (
            f"{len(blocks)} commit-block handlers match type {event.type!r}; at most one may "
            "(each commits the event's mark): keep one, then replay the event"
        )
        log.error("webhook %s/%s: %s", event.source, event.id, reason)
        async with job_run.commit(with_ack=[mark("failed", reason)]):
            pass
        return
    if not others:
        log.warning(
            "no handler for webhook type %r from %s (event %s); marked unhandled",
            event.type,
            event.source,
            event.id,
        )
        async with job_run.commit(with_ack=[mark("unhandled", None)]):
            pass
        return
    async with job_run.commit(with_ack=[mark("processed", None)]) as tx:
        await run_handlers(others, event, tx)
