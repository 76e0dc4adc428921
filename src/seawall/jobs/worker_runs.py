"""Single runs: a worker runs one job (or one batch) outside a group, nacks and acks in batches.

Part of `Worker` (`seawall.jobs.worker`), split out by job.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import TYPE_CHECKING

from seawall.jobs.backoff import retry_delay
from seawall.jobs.commit import JobRun, Successor
from seawall.jobs.failures import log_failure
from seawall.jobs.model import BatchResult, InvalidJobError, Job, LeaseLostError, RetryLater
from seawall.jobs.work_units import Route

if TYPE_CHECKING:
    from seawall.jobs.worker import Worker

__all__ = [
    "ack_flusher",
    "emit_acks",
    "failed_ids",
    "flush_acks",
    "nack_job",
    "run_batch",
    "run_one",
]

log = logging.getLogger("seawall.jobs.worker")


async def run_one(
    worker: Worker, route: Route, job: Job, successor: Successor | None = None
) -> None:
    """Run one job outside a group: commit block, transactional (its own transaction) or plain.
    A commit block reserves the runner's next job through `successor` (see `JobRun`)."""
    try:
        if route.transactional:
            async with worker.store.transaction() as tx:
                started = time.perf_counter()
                await worker._timed(route.handler(job, tx), job, started)
                if not await worker.queue.ack(job, tx=tx):
                    raise LeaseLostError(job.id)
            worker.processed += 1
            worker._emit("processed", job.queue, 1, job.id)
        elif route.commit_block:
            run = JobRun(job, worker.store, worker.queue, worker._blocks, successor)
            try:
                await worker._timed(route.handler(run), job, time.perf_counter())
            except Exception:
                if not run.committed:
                    raise
                log.exception("job %s raised after its commit block; it stays done", job.id)
            if run.committed:
                worker.processed += 1
                worker._emit("processed", job.queue, 1, job.id)
            else:
                worker._acks.append(job)
                worker._ack_wake.set()
        else:
            await worker._timed(route.handler(job), job, time.perf_counter())
            worker._acks.append(job)
            worker._ack_wake.set()
    except LeaseLostError:
        worker.lease_lost += 1
        worker._emit("lease_lost", job.queue, 1, job.id)
    except RetryLater as retry:
        await nack_job(worker, job, retry.delay, retry.reason, None, retried=True)
    except Exception as exc:
        delay = retry_delay(worker.backoff, job)
        await nack_job(worker, job, delay, f"{type(exc).__name__}: {exc}", traceback.format_exc())


async def run_batch(worker: Worker, route: Route, name: str, jobs: list[Job]) -> None:
    """Run a batch handler on a claimed batch; ack the jobs it did not report failed."""
    try:
        if route.transactional:
            async with worker.store.transaction() as tx:
                result = await route.handler(jobs, tx)
                failed = failed_ids(result, jobs)
                ok = [job for job in jobs if job.id not in failed]
                acked = await worker.queue.ack_many(ok, tx=tx)
                if acked != len(ok):
                    raise LeaseLostError(",".join(j.id for j in ok))
            worker.processed += acked
            worker._emit("processed", name, acked)
        else:
            result = await route.handler(jobs)
            failed = failed_ids(result, jobs)
            worker._acks.extend(job for job in jobs if job.id not in failed)
            worker._ack_wake.set()
    except LeaseLostError:
        worker.lease_lost += len(jobs)
        worker._emit("lease_lost", name, len(jobs))
        return
    except RetryLater as retry:
        for job in jobs:
            await nack_job(worker, job, retry.delay, retry.reason, None, retried=True)
        return
    except Exception as exc:
        tb = traceback.format_exc()
        for job in jobs:
            delay = retry_delay(worker.backoff, job)
            await nack_job(worker, job, delay, f"{type(exc).__name__}: {exc}", tb)
        return
    errors = result.errors if isinstance(result, BatchResult) else {}
    for job in jobs:
        if job.id in failed:
            delay = retry_delay(worker.backoff, job)
            await nack_job(worker, job, delay, errors.get(job.id, "reported failed by batch"), None)


async def nack_job(
    worker: Worker,
    job: Job,
    delay: float,
    error: str | None,
    tb: str | None,
    *,
    retried: bool = False,
) -> None:
    """Give a failed job back with its delay and error (dead-lettered on its last receive)."""
    try:
        changed = await worker.queue.nack(job, delay=delay, error=error, tb=tb)
    except Exception:
        log.exception("nack of job %s failed; it becomes visible when its lease expires", job.id)
        return
    if not changed:
        worker._count("lease_lost", job, error)
        return
    log_failure(job, delay, error, tb, retried)
    if job.is_last_receive:
        worker._count("dead_lettered", job, error)
    else:
        worker._count("retried" if retried else "failed", job, error)


async def ack_flusher(worker: Worker) -> None:
    """Flush the batched acks of plain handlers whenever some are waiting."""
    while True:
        await worker._ack_wake.wait()
        worker._ack_wake.clear()
        await flush_acks(worker)


async def flush_acks(worker: Worker) -> None:
    """Ack the waiting jobs of plain handlers in one statement per lease token."""
    async with worker._ack_lock:
        while worker._acks:
            batch, worker._acks = worker._acks, []
            try:
                acked = await worker.queue.ack_many(batch)
            except Exception:
                log.exception(
                    "acking %d jobs failed; they are redelivered after their lease", len(batch)
                )
                continue
            worker.processed += acked
            if acked < len(batch):
                worker.lease_lost += len(batch) - acked
            if worker.on_event is not None:
                emit_acks(worker, batch, acked)


def emit_acks(worker: Worker, batch: list[Job], acked: int) -> None:
    """Count a flushed batch: acked jobs as processed, the rest as lease lost."""
    per_queue: dict[str, int] = {}
    for job in batch:
        per_queue[job.queue] = per_queue.get(job.queue, 0) + 1
    if acked == len(batch):
        for name, count in per_queue.items():
            worker._emit("processed", name, count)
    else:
        worker._emit("processed", batch[0].queue, acked)
        worker._emit("lease_lost", batch[0].queue, len(batch) - acked)


def failed_ids(result: object, jobs: list[Job]) -> set[str]:
    """The ids of `jobs` a batch handler's result reports failed (InvalidJobError for a
    result that is not a BatchResult or None)."""
    if result is None:
        return set()
    if not isinstance(result, BatchResult):
        raise InvalidJobError(
            f"a batch handler must return BatchResult or None (got {type(result).__name__})"
        )
    known = {job.id for job in jobs}
    return {job_id for job_id in result.failed_ids if job_id in known}
