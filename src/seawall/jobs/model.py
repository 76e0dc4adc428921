"""The queue's value types and errors: Job, DeadLetter, QueueStats, BatchResult, RetryLater."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BatchResult",
    "DeadLetter",
    "InvalidJobError",
    "Job",
    "JobError",
    "LeaseLostError",
    "QueueStats",
    "RetryLater",
]


class JobError(Exception):
    """Base class of the queue's errors."""


class InvalidJobError(JobError, ValueError):
    """A job or queue argument is unusable (bad queue name, payload not a JSON object, ...)."""


class LeaseLostError(JobError):
    """The job's lease expired and another worker holds it now; this worker's work is void."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"lease on job {job_id} was lost (visibility timeout passed and it was "
            "claimed again); its effects were rolled back"
        )
        self.job_id = job_id


class RetryLater(Exception):
    """Raised by a handler to put its job back without an error, visible again after `delay` s."""

    def __init__(self, delay: float = 0.0, reason: str | None = None) -> None:
        if delay < 0:
            raise InvalidJobError(f"RetryLater delay must be >= 0 (got {delay})")
        super().__init__(reason or f"retry in {delay:g} s")
        self.delay = float(delay)
        self.reason = reason


LAST_RECEIVE_SQL = "receives >= max_receives"
"""The SQL twin of `Job.is_last_receive`, for statements that decide on the row itself."""


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed or inspected job. `lease_token` guards ack, nack and extend."""

    id: str
    queue: str
    payload: dict[str, Any]
    receives: int
    max_receives: int
    priority: int
    lease_token: str | None
    enqueued_at: float
    visible_at: float
    errors: list[dict[str, Any]] = field(default_factory=list)
    state: str = "pending"
    dedup_key: str | None = None
    finished_at: float | None = None

    @property
    def is_last_receive(self) -> bool:
        """True when a failure of this receive dead-letters the job (the one home of that rule)."""
        return self.receives >= self.max_receives


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job in the dead-letter queue, with why it landed there and its error history."""

    id: str
    queue: str
    payload: dict[str, Any]
    receives: int
    max_receives: int
    priority: int
    enqueued_at: float
    dead_at: float
    reason: str
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Depth and age figures for one queue, for operators and metrics."""

    queue: str
    ready: int
    in_flight: int
    delayed: int
    done: int
    dead: int
    oldest_ready_age_s: float | None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch handler returns: the ids of the jobs that failed (the rest are acked)."""

    failed_ids: frozenset[str] | set[str] | list[str] = frozenset()
    errors: dict[str, str] = field(default_factory=dict)
