"""The inbox table: plain SQL to store verified webhooks, record outcomes and list events."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seawall.store import Row, Store, Tx
from seawall.webhooks.events import STATUSES, EventNotFoundError

__all__ = [
    "InboxEntry",
    "StoredEvent",
    "get_event",
    "insert_entries",
    "list_events",
    "load_row",
    "mark_outcome",
    "set_job_ids",
]

_COLUMNS = "source, event_id, event_type, body, headers, received_at"
_CHUNK = 400
"""Rows per multi-row INSERT (6 parameters each stays far below SQLite's variable limit)."""
_SUMMARY = (
    "source, event_id, event_type, headers, received_at, status, attempts, last_error, "
    "processed_at, job_id"
)


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A verified request about to be stored."""

    source: str
    event_id: str
    event_type: str
    body: bytes
    headers_json: str
    received_at: float

    @property
    def key(self) -> tuple[str, str]:
        """The inbox's unique key: (source, event id)."""
        return (self.source, self.event_id)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An inbox row as operators see it; `body` is None in listings."""

    source: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    received_at: float
    processed_at: float | None
    last_error: str | None
    job_id: str | None
    headers: dict[str, str]
    body: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the body is text when it is UTF-8, else base64 under `body_base64`."""
        out: dict[str, Any] = {
            "source": self.source,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "received_at": self.received_at,
            "processed_at": self.processed_at,
            "last_error": self.last_error,
            "job_id": self.job_id,
            "headers": self.headers,
        }
        if self.body is not None:
            try:
                out["body"] = self.body.decode("utf-8")
            except UnicodeDecodeError:
                out["body_base64"] = base64.b64encode(self.body).decode("ascii")
        return out


async def insert_entries(tx: Tx, entries: Sequence[InboxEntry]) -> set[tuple[str, str]]:
    """Insert entries, skipping keys already stored; return the keys this call inserted.

    One multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` per chunk, so the answer is
    exact even when another process inserts the same key at the same moment.
    """
    inserted: set[tuple[str, str]] = set()
    for start in range(0, len(entries), _CHUNK):
        chunk = entries[start : start + _CHUNK]
        values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
        params: list[Any] = []
        for e in chunk:
            params.extend(
                (e.source, e.event_id, e.event_type, e.body, e.headers_json, e.received_at)
            )
        rows = await tx.fetchall(
            f"INSERT INTO seawall_webhook_inbox ({_COLUMNS}) VALUES {values} "
            "ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id",
            params,
        )
        inserted.update((r["source"], r["event_id"]) for r in rows)
    return inserted


async def set_job_ids(tx: Tx, assignments: Sequence[tuple[str, str, str]]) -> None:
    """Record the processing job of each (job id, source, event id)."""
    if assignments:
        await tx.executemany(
            "UPDATE seawall_webhook_inbox SET job_id = ? WHERE source = ? AND event_id = ?",
            assignments,
        )


async def load_row(tx: Tx, source: str, event_id: str) -> Row | None:
    """The full inbox row, body included, or None."""
    return await tx.fetchone(
        f"SELECT {_SUMMARY}, body FROM seawall_webhook_inbox WHERE source = ? AND event_id = ?",
        (source, event_id),
    )


async def mark_outcome(
    tx: Tx,
    source: str,
    event_id: str,
    *,
    status: str,
    attempts: int,
    error: str | None,
    processed_at: float | None,
    job_id: str,
) -> None:
    """Write an event's outcome (status, attempts, last error, processing time, its job)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {STATUSES}")
    await tx.execute(
        "UPDATE seawall_webhook_inbox SET status = ?, attempts = ?, last_error = ?, "
        "processed_at = ?, job_id = ? WHERE source = ? AND event_id = ?",
        (status, attempts, error, processed_at, job_id, source, event_id),
    )


def _stored(row: Row, *, with_body: bool) -> StoredEvent:
    body = row.get("body") if with_body else None
    return StoredEvent(
        source=row["source"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        status=row["status"],
        attempts=int(row["attempts"]),
        received_at=float(row["received_at"]),
        processed_at=None if row["processed_at"] is None else float(row["processed_at"]),
        last_error=row["last_error"],
        job_id=row["job_id"],
        headers=json.loads(row["headers"]),
        body=bytes(body) if body is not None else None,
    )


async def list_events(
    store: Store,
    *,
    source: str | None = None,
    type: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[StoredEvent]:
    """Stored events, newest first, optionally filtered by source, type and status (no bodies)."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    if not (1 <= limit <= 10_000) or offset < 0:
        raise ValueError("limit must be 1..10000 and offset >= 0")
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("source", source), ("event_type", type), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    async with store.read() as tx:
        rows = await tx.fetchall(
            f"SELECT {_SUMMARY} FROM seawall_webhook_inbox {clause}"
            "ORDER BY received_at DESC, source, event_id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    return [_stored(r, with_body=False) for r in rows]


async def get_event(store: Store, source: str, event_id: str) -> StoredEvent:
    """One stored event with its raw body; raise EventNotFoundError when absent."""
    async with store.read() as tx:
        row = await load_row(tx, source, event_id)
    if row is None:
        raise EventNotFoundError(source, event_id)
    return _stored(row, with_body=True)
