"""The rows of `seawall_jobs` as the queue reads and checks them: ids, names, payloads, mapping.

Part of the queue (`seawall.jobs.queue` and `seawall.jobs.queue_admin` are the other parts); the
three modules together own the `seawall_jobs` and `seawall_job_dedup` tables.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
from collections.abc import Iterable
from typing import Any

from seawall.jobs.model import DeadLetter, InvalidJobError, Job
from seawall.store.base import Row
from seawall.store.text import storable_text

__all__ = [
    "JOB_COLUMNS",
    "NOTIFY_CHANNEL",
    "check_job_ids",
    "check_queue_name",
    "encode_payload",
    "error_record",
    "new_job_id",
    "new_job_ids",
    "row_to_dead_letter",
    "row_to_job",
]

NOTIFY_CHANNEL = "seawall_jobs"
"""Every enqueue, release and redrive notifies this channel after commit; workers listen to it."""

STATE_NAMES = {0: "pending", 1: "done", 2: "dead"}
_MAX_TRACEBACK = 4000
_MAX_QUEUE_NAME = 200
_COUNTER = itertools.count()
_PID = os.getpid()

JOB_COLUMNS = (
    "id, queue, payload, state, priority, receives, max_receives, lease_token, enqueued_at, "
    "visible_at, finished_at, dead_reason, dedup_key, errors"
)


def new_job_id() -> str:
    """A unique, roughly time-ordered job id (milliseconds, a process counter, randomness)."""
    millis = int(time.time() * 1000)
    return f"{millis:012x}{next(_COUNTER) & 0xFFFFFF:06x}{_PID & 0xFFFF:04x}{secrets.token_hex(5)}"


def new_job_ids(count: int) -> list[str]:
    """`count` ids shaped like `new_job_id`'s, drawing their randomness in one system call."""
    head = f"{int(time.time() * 1000):012x}"
    pid = f"{_PID & 0xFFFF:04x}"
    rand = os.urandom(5 * count).hex()
    counter = _COUNTER
    return [
        f"{head}{next(counter) & 0xFFFFFF:06x}{pid}{rand[i : i + 10]}"
        for i in range(0, 10 * count, 10)
    ]


def check_queue_name(name: object) -> str:
    """The queue name, or InvalidJobError when no engine can hold it."""
    if not isinstance(name, str) or not name or len(name) > _MAX_QUEUE_NAME:
        raise InvalidJobError(
            f"queue name must be a non-empty string of at most {_MAX_QUEUE_NAME} characters "
            f"(got {name!r})"
        )
    if not storable_text(name):
        raise InvalidJobError("a queue name cannot hold NUL or lone surrogates")
    return name


def check_job_ids(ids: Iterable[str]) -> None:
    """Refuse job ids no engine can hold (they could name no job) before they reach SQL."""
    for job_id in ids:
        if not isinstance(job_id, str) or not storable_text(job_id):
            raise InvalidJobError(f"no job can have the id {job_id!r}")


def encode_payload(payload: object) -> str:
    """The payload as compact JSON, or InvalidJobError."""
    if not isinstance(payload, dict):
        raise InvalidJobError(
            f"a job payload must be a dict that JSON can encode (got {type(payload).__name__})"
        )
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidJobError(f"job payload cannot be encoded as JSON: {exc}") from exc


def row_to_job(row: Row) -> Job:
    """A `seawall_jobs` row as a Job."""
    return Job(
        id=row["id"],
        queue=row["queue"],
        payload=json.loads(row["payload"]),
        receives=int(row["receives"]),
        max_receives=int(row["max_receives"]),
        priority=int(row["priority"]),
        lease_token=row["lease_token"],
        enqueued_at=float(row["enqueued_at"]),
        visible_at=float(row["visible_at"]),
        errors=json.loads(row["errors"]),
        state=STATE_NAMES.get(int(row["state"]), "unknown"),
        dedup_key=row["dedup_key"],
        finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
    )


def row_to_dead_letter(row: Row) -> DeadLetter:
    """A dead `seawall_jobs` row as a DeadLetter."""
    return DeadLetter(
        id=row["id"],
        queue=row["queue"],
        payload=json.loads(row["payload"]),
        receives=int(row["receives"]),
        max_receives=int(row["max_receives"]),
        priority=int(row["priority"]),
        enqueued_at=float(row["enqueued_at"]),
        dead_at=float(row["finished_at"] or 0.0),
        reason=row["dead_reason"] or "",
        errors=json.loads(row["errors"]),
    )


def error_record(at: float, error: str | None, tb: str | None) -> dict[str, Any]:
    """One entry of a job's error history (the traceback keeps its last lines when long)."""
    if tb is not None and len(tb) > _MAX_TRACEBACK:
        tb = "..." + tb[-_MAX_TRACEBACK:]
    return {"at": at, "error": error, "traceback": tb}
