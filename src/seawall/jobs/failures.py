"""How a failed try of a job is logged: one line with its facts, the traceback at DEBUG."""

from __future__ import annotations

import logging

from seawall.jobs.model import Job

__all__ = ["log_failure"]

log = logging.getLogger("seawall.jobs.worker")  # the worker's logger, as before


def log_failure(job: Job, delay: float, error: str | None, tb: str | None, retried: bool) -> None:
    """One line per failed try: queue, job and event id, attempt n of max, when it runs again,
    the error's first line; the traceback follows at DEBUG (it is also in the job's errors)."""
    summary = (error or "no reason given").splitlines()[0] if error else "no reason given"
    fields = {
        "job_id": job.id,
        "queue": job.queue,
        "event_id": job.payload.get("event_id"),
        "source": job.payload.get("source"),
        "attempt": job.receives,
        "max_attempts": job.max_receives,
    }
    if job.is_last_receive:
        log.warning(
            "job %s (queue %s) failed on its last attempt (%d of %d) and went to the "
            "dead-letter queue: %s",
            job.id,
            job.queue,
            job.receives,
            job.max_receives,
            summary,
            extra=fields,
        )
    else:
        log.log(
            logging.INFO if retried else logging.WARNING,
            "job %s (queue %s) %s (attempt %d of %d); it runs again in %.1f s: %s",
            job.id,
            job.queue,
            "asked to retry later" if retried else "failed",
            job.receives,
            job.max_receives,
            delay,
            summary,
            extra={**fields, "retry_in_s": round(delay, 3)},
        )
    if tb and log.isEnabledFor(logging.DEBUG):
        log.debug("traceback of job %s:\n%s", job.id, tb, extra=fields)
