"""The payload of a webhook processing job, `{"source": ..., "event_id": ...}`: its one home.

A job names the stored event it processes; the event itself (body, headers) stays in the inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

__all__ = ["event_job", "event_job_text", "event_of_job"]


def event_job(source: str, event_id: str) -> dict[str, str]:
    """The payload of the job that processes the stored event (source, event_id)."""
    return {"source": source, "event_id": event_id}


def event_job_text(source: str, event_id: str) -> str:
    """The same payload as compact JSON text, for `Queue.enqueue_encoded` (no dict, no dumps)."""
    return f'{{"source":{_quote(source)},"event_id":{_quote(event_id)}}}'


def event_of_job(payload: Mapping[str, Any]) -> tuple[str, str]:
    """The (source, event_id) a processing job's payload names ("" for a missing field)."""
    return str(payload.get("source", "")), str(payload.get("event_id", ""))
