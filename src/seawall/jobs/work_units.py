"""What a worker runs and reports: handlers, routes, units of work, events and run summaries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from seawall.jobs.model import Job

__all__ = [
    "AWAITING_S",
    "JOB_SAVEPOINT",
    "Handler",
    "Route",
    "RunSummary",
    "Unit",
    "WorkerEvent",
]

Handler = Callable[..., Awaitable[Any]]
"""A job handler: `(job)`, `(job, tx)`, `(jobs)` for batches, or `(run)` for commit blocks."""
JOB_SAVEPOINT = "seawall_job"
"""Each job of a transactional group runs inside a savepoint of this name."""
AWAITING_S = 0.005
"""A transactional handler taking this long is waiting on something: its queue stops grouping."""


@dataclass(frozen=True, slots=True)
class Route:
    """How a queue's handler is called."""

    handler: Handler
    transactional: bool
    batch: bool
    commit_block: bool = False


@dataclass(slots=True)
class Unit:
    """Work for one runner: one job, or a whole claimed batch for a batch handler."""

    queue: str
    jobs: list[Job]


@dataclass(frozen=True, slots=True)
class WorkerEvent:
    """Something the worker did, for metrics: kind is processed, failed, retried,
    dead_lettered, lease_lost or released; or `timed`, which carries how long one handler call
    took (`duration_s`) and whether it raised (`error`)."""

    kind: str
    queue: str
    count: int = 1
    job_id: str | None = None
    error: str | None = None
    duration_s: float | None = None


class RunSummary(int):
    """What `Worker.run_until_idle` did: an int (jobs processed) with every other outcome."""

    processed: int
    retried: int
    failed: int
    dead_lettered: int
    lease_lost: int

    def __new__(
        cls, processed: int, retried: int, failed: int, dead_lettered: int, lease_lost: int
    ) -> RunSummary:
        summary = super().__new__(cls, processed)
        summary.processed = processed
        summary.retried = retried
        summary.failed = failed
        summary.dead_lettered = dead_lettered
        summary.lease_lost = lease_lost
        return summary

    def __repr__(self) -> str:
        return (
            f"RunSummary(processed={self.processed}, retried={self.retried}, "
            f"failed={self.failed}, dead_lettered={self.dead_lettered}, "
            f"lease_lost={self.lease_lost})"
        )

    __str__ = __repr__
