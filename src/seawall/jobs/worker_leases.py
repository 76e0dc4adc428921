"""A worker's leases: counting receives as handlers start, extending the leases of long runs.

Part of `Worker` (`seawall.jobs.worker`), split out by job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from seawall.jobs.model import Job
from seawall.jobs.work_units import Unit
from seawall.store.base import Statement

if TYPE_CHECKING:
    from seawall.jobs.worker import Worker

__all__ = ["Seat", "extend_long_runs", "record_start", "record_starts", "reserve_successor"]

log = logging.getLogger("seawall.jobs.worker")


async def record_start(worker: Worker, queue_name: str, jobs: list[Job]) -> list[Job]:
    """Count the receive of jobs about to run that were leased without one, together with
    those of every other runner starting meanwhile (one write per round trip); return the
    jobs still leased here."""
    ahead = [job for job in jobs if job.id in worker._uncounted]
    if not ahead:
        return jobs
    counted = {job.id for job in jobs} - worker._uncounted
    worker._uncounted.difference_update(job.id for job in ahead)
    future: asyncio.Future[list[Job]] = asyncio.get_running_loop().create_future()
    worker._starting.append((ahead, future))
    if worker._starter is None or worker._starter.done():
        worker._starter = asyncio.create_task(record_starts(worker))
    try:
        started = {job.id: job for job in await asyncio.shield(future)}
    except Exception:
        log.exception("recording %d job starts failed; they return after their lease", len(ahead))
        return [job for job in jobs if job.id in counted]
    if len(started) < len(ahead):
        worker.lease_lost += len(ahead) - len(started)
        worker._emit("lease_lost", queue_name, len(ahead) - len(started))
    return [started.get(job.id, job) for job in jobs if job.id in started or job.id in counted]


class Seat:
    """One runner's place: the unit it takes next, when its last commit block reserved one."""

    __slots__ = ("counted", "unit")

    def __init__(self) -> None:
        self.unit: Unit | None = None
        self.counted = False
        """Whether the reserved unit's start committed (else it goes back to the buffer)."""


def reserve_successor(
    worker: Worker, seat: Seat
) -> tuple[Statement, Callable[[bool], None]] | None:
    """Reserve the next buffered job for this runner while its commit block is sent, and
    return the statement that counts that job's start (it rides with the block) and the
    callback told whether the block committed. Only a lone job leased ahead whose lease still
    runs, of a commit-block queue, and only while the worker is not stopping."""
    if seat.unit is not None or not worker._units or worker._stop_requested.is_set():
        return None
    unit = worker._units[0]
    if len(unit.jobs) != 1 or not worker._routes[unit.queue].commit_block:
        return None
    [job] = unit.jobs
    # The riding start's row count is not read back (the block's ack is), so only a lease
    # with a quarter of its timeout still to run is trusted to outlast the block's wait.
    margin = worker.visibility_timeout / 4
    if job.id not in worker._uncounted or job.visible_at <= worker.clock.time() + margin:
        return None
    worker._units.popleft()
    worker._uncounted.discard(job.id)
    statement, started = worker.queue.start_statement(
        job, visibility_timeout=worker.visibility_timeout
    )
    seat.unit, seat.counted = unit, False

    def settle(committed: bool) -> None:
        seat.counted = committed
        if committed:
            seat.unit = Unit(unit.queue, [started])
        else:
            worker._uncounted.add(job.id)

    return statement, settle


async def record_starts(worker: Worker) -> None:
    while worker._starting:
        requests, worker._starting = worker._starting, []
        try:
            started = await worker.queue.start(
                [job for jobs, _ in requests for job in jobs],
                visibility_timeout=worker.visibility_timeout,
            )
        except Exception as exc:
            for _, future in requests:
                future.set_exception(exc)
            continue
        by_id = {job.id: job for job in started}
        for jobs, future in requests:
            future.set_result([by_id[job.id] for job in jobs if job.id in by_id])


async def extend_long_runs(worker: Worker) -> None:
    """Extend the leases of non-transactional handlers that run long (calls to the outside
    world), every third of the visibility timeout, in one statement per lease token. A
    worker that dies stops extending, so its jobs still come back after the timeout.
    Transactional handlers are not extended: their transaction holds their rows."""
    period = worker.visibility_timeout / 3
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(period)
        now = loop.time()
        due = [job for job, since in worker._outside.values() if now - since >= period]
        if not due:
            continue
        try:
            await worker.queue.extend_many(due, worker.visibility_timeout)
        except Exception:
            log.exception("extending %d leases failed; they may be redelivered", len(due))
