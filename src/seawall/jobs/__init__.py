"""Durable jobs: an SQS-style queue with leases and a dead-letter queue, and the worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    # Names after `as` are kept importable for the library's own modules, not the surface.
    from seawall.jobs.api import JobProducer, JobQueue
    from seawall.jobs.commit import JobRun
    from seawall.jobs.model import (
        BatchResult,
        DeadLetter,
        InvalidJobError,
        Job,
        JobError,
        LeaseLostError,
        QueueStats,
        RetryLater,
    )
    from seawall.jobs.queue import NOTIFY_CHANNEL as NOTIFY_CHANNEL
    from seawall.jobs.queue import Queue
    from seawall.jobs.retention import run_retention
    from seawall.jobs.worker import RunSummary, Worker, WorkerEvent

__all__ = [
    "BatchResult",
    "DeadLetter",
    "InvalidJobError",
    "Job",
    "JobError",
    "JobProducer",
    "JobQueue",
    "JobRun",
    "LeaseLostError",
    "Queue",
    "QueueStats",
    "RetryLater",
    "RunSummary",
    "Worker",
    "WorkerEvent",
    "run_retention",
]

_HOMES = {
    "JobProducer": "seawall.jobs.api",
    "JobQueue": "seawall.jobs.api",
    "JobRun": "seawall.jobs.commit",
    "BatchResult": "seawall.jobs.model",
    "DeadLetter": "seawall.jobs.model",
    "InvalidJobError": "seawall.jobs.model",
    "Job": "seawall.jobs.model",
    "JobError": "seawall.jobs.model",
    "LeaseLostError": "seawall.jobs.model",
    "QueueStats": "seawall.jobs.model",
    "RetryLater": "seawall.jobs.model",
    "NOTIFY_CHANNEL": "seawall.jobs.queue",
    "Queue": "seawall.jobs.queue",
    "RunSummary": "seawall.jobs.worker",
    "Worker": "seawall.jobs.worker",
    "WorkerEvent": "seawall.jobs.worker",
    "run_retention": "seawall.jobs.retention",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
