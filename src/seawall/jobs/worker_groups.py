"""Transaction groups: a worker runs waiting transactional jobs of a queue in one transaction.

Part of `Worker` (`seawall.jobs.worker`), split out by job: each job of a group runs in its own
savepoint, the group's acks are taken up front in one statement, and a group that runs out of
time hands its other jobs back to the runners.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import TYPE_CHECKING

from seawall.jobs.backoff import retry_delay
from seawall.jobs.failures import log_failure
from seawall.jobs.model import Job, LeaseLostError, RetryLater
from seawall.jobs.work_units import AWAITING_S, JOB_SAVEPOINT, Route, Unit
from seawall.store.base import Tx
from seawall.store.savepoints import LazySavepointTx, rollback_savepoint

if TYPE_CHECKING:
    from seawall.jobs.worker import Worker

__all__ = ["give_back", "hand_back", "run_group", "run_grouped"]

log = logging.getLogger("seawall.jobs.worker")


async def run_group(worker: Worker, route: Route, jobs: list[Job]) -> None:
    """Run transactional handlers one after another in one transaction, each job inside
    its own savepoint: a failing job rolls back only its own effects, and the group's
    effects and acks share one commit. The group's jobs are acked first (`Queue.take`, one
    statement, which also locks their rows, so no other worker can take over a lease while
    the group runs); a failing job is given back (`untake`) and nacked. Savepoints are not
    released one by one (a statement each): a rollback goes back to the newest savepoint
    of that name, and the transaction's end releases them all. A group starts no further
    job once AWAITING_S has passed: the jobs it did not reach are given back too, and go
    back to the runners (see `_hand_back`)."""
    outcomes: list[tuple[str, Job, str | None]] = []
    left: list[Job] = []
    try:
        async with worker.store.transaction() as tx:
            taken = await worker.queue.take(jobs, tx=tx)
            deadline = time.perf_counter() + AWAITING_S
            ran = False
            for job in jobs:
                if job.id not in taken:
                    outcomes.append(("lease_lost", job, None))
                    continue
                if left or (ran and time.perf_counter() >= deadline):
                    left.append(job)
                    continue
                ran = True
                failure = await run_grouped(worker, route, job, tx)
                if failure is None:
                    outcomes.append(("processed", job, None))
                    continue
                wait, reason, tb, retried = failure
                await give_back(worker, tx, [job])
                await worker.queue.nack(job, delay=wait, error=reason, tb=tb, tx=tx)
                log_failure(job, wait, reason, tb, retried)
                kind = "retried" if retried else "failed"
                if job.is_last_receive:
                    kind = "dead_lettered"
                outcomes.append((kind, job, reason))
            if left:
                await give_back(worker, tx, left)
    except Exception:
        log.exception(
            "a transaction of %d jobs failed; they are redelivered after their lease",
            len(jobs) - len(left),
        )
        outcomes = []
    for kind, job, reason in outcomes:
        worker._count(kind, job, reason)
    if left:
        await hand_back(worker, left)


async def give_back(worker: Worker, tx: Tx, jobs: list[Job]) -> None:
    """Undo the group's ack of `jobs` in `tx` (they are pending under their leases again)."""
    if await worker.queue.untake(jobs, tx=tx) != len(jobs):
        raise LeaseLostError(",".join(job.id for job in jobs))


async def run_grouped(
    worker: Worker, route: Route, job: Job, tx: Tx
) -> tuple[float, str | None, str | None, bool] | None:
    """Run one job of a group inside its own savepoint of `tx`; on failure roll that back
    and return (delay, reason, traceback, retried), else None."""
    scoped = LazySavepointTx(tx, JOB_SAVEPOINT)
    failure: tuple[float, str | None, str | None, bool]
    try:
        await worker._timed(route.handler(job, scoped), job, time.perf_counter())
    except RetryLater as retry:
        failure = (retry.delay, retry.reason, None, True)
    except Exception as exc:
        delay = retry_delay(worker.backoff, job)
        failure = (delay, f"{type(exc).__name__}: {exc}", traceback.format_exc(), False)
    else:
        return None
    if scoped.opened:
        await rollback_savepoint(tx, JOB_SAVEPOINT, release=False)
    return failure


async def hand_back(worker: Worker, jobs: list[Job]) -> None:
    """Put the jobs a group did not reach (still leased to this worker) back at the front
    of the line, one unit each, so they are grouped again or, when their queue is
    awaiting, run side by side; when stopping, release them instead."""
    if worker._stop_requested.is_set():
        try:
            released = await worker.queue.release(jobs)
            worker._emit("released", jobs[0].queue, released)
        except Exception:
            log.exception("could not release %d jobs; their leases expire", len(jobs))
        return
    worker._units.extendleft(Unit(job.queue, [job]) for job in reversed(jobs))
    worker._buffered_jobs += len(jobs)
    worker._work.set()
