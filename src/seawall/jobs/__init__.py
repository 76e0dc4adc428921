"""Durable jobs: an SQS-style queue with leases and a dead-letter queue, and the worker."""

from __future__ import annotations

from seawall.jobs.model import (
    BatchResult,
    DeadLetter,
    InvalidJobError,
    Job,
    JobError,
    LeaseLostError,
    QueueStats,
    RetryLater,
    RunSummary,
)
from seawall.jobs.queue import NOTIFY_CHANNEL, Queue
from seawall.jobs.worker import Worker, WorkerEvent, run_retention

__all__ = [
    "NOTIFY_CHANNEL",
    "BatchResult",
    "DeadLetter",
    "InvalidJobError",
    "Job",
    "JobError",
    "LeaseLostError",
    "Queue",
    "QueueStats",
    "RetryLater",
    "RunSummary",
    "Worker",
    "WorkerEvent",
    "run_retention",
]
