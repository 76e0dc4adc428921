"""The one jittered retry schedule for jobs, used by the worker and by job handlers."""

from __future__ import annotations

from seawall.jobs.model import Job
from seawall.resilience.backoff import Backoff, ExponentialJitter

__all__ = ["Backoff", "default_backoff", "job_backoff", "retry_delay"]


def job_backoff(base: float = 1.0, cap: float = 300.0, *, seed: int | None = None) -> Backoff:
    """Full-jitter exponential backoff for jobs: up to `base` s after the first failure, capped."""
    return ExponentialJitter(base=base, cap=cap, seed=seed)


def default_backoff() -> Backoff:
    """The worker's default: up to 1 s after the first failure, capped at 5 minutes."""
    return job_backoff()


def retry_delay(backoff: Backoff, job: Job, hint: float | None = None) -> float:
    """Seconds before `job` runs again after this receive failed; a server's hint is a floor."""
    return max(backoff.delay(max(1, job.receives), 0.0), float(hint or 0.0))
