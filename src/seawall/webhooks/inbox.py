"""The inbox table: plain SQL to store verified webhooks, record outcomes and list events."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from seawall.store import Row, Store, Tx
from seawall.store.base import Statement
from seawall.store.lists import chunks, marks
from seawall.store.text import storable_text
from seawall.webhooks.events import STATUSES, EventNotFoundError

__all__ = [
    "PURGEABLE_STATUSES",
    "InboxEntry",
    "MinuteCounts",
    "StoredEvent",
    "check_filters",
    "check_retention",
    "counts_by_status",
    "event_ids",
    "get_event",
    "insert_entries",
    "list_events",
    "load_row",
    "load_rows",
    "mark_if_received",
    "mark_outcome",
    "minute_counts",
    "outcome_statement",
    "purge_events",
    "received_since",
    "reset_for_replay",
    "set_job_ids",
]

PURGEABLE_STATUSES = ("processed", "unhandled")
"""Terminal outcomes retention may delete. `received`/`processing` still have work to do, and
`failed`/`dead` wait for an operator (inspect, replay); those rows are never purged."""

_COLUMNS = "source, event_id, event_type, body, headers, received_at"
_CHUNK = 400
"""Rows per multi-row INSERT (6 parameters each stays far below SQLite's variable limit)."""
_SUMMARY = (
    "source, event_id, event_type, headers, received_at, status, attempts, last_error, "
    "processed_at, job_id"
)


class InboxEntry(NamedTuple):
    """A verified request about to be stored (a named tuple: cheap to build once per request).

    Its fields are in the order of the inbox's insert columns.
    """

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
    for chunk in chunks(entries, _CHUNK):
        values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
        params: list[Any] = []
        for entry in chunk:
            params.extend(entry)  # the fields are in _COLUMNS order
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
    if not (storable_text(source) and storable_text(event_id)):
        return None  # no stored event can have this key
    return await tx.fetchone(
        f"SELECT {_SUMMARY}, body FROM seawall_webhook_inbox WHERE source = ? AND event_id = ?",
        (source, event_id),
    )


async def load_rows(tx: Tx, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Row]:
    """The full inbox rows of many events at once (a few statements), by (source, event id);
    keys with no stored event are left out."""
    by_source: dict[str, dict[str, None]] = {}
    for source, event_id in keys:
        if storable_text(source) and storable_text(event_id):
            by_source.setdefault(source, {})[event_id] = None
    found: dict[tuple[str, str], Row] = {}
    for source, unique in by_source.items():
        for chunk in chunks(list(unique), _CHUNK):
            rows = await tx.fetchall(
                f"SELECT {_SUMMARY}, body FROM seawall_webhook_inbox WHERE source = ? "
                f"AND event_id IN ({marks(len(chunk))})",
                (source, *chunk),
            )
            found.update(((row["source"], row["event_id"]), row) for row in rows)
    return found


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
    await tx.execute(
        *outcome_statement(
            source,
            event_id,
            status=status,
            attempts=attempts,
            error=error,
            processed_at=processed_at,
            job_id=job_id,
        )
    )


def outcome_statement(
    source: str,
    event_id: str,
    *,
    status: str,
    attempts: int,
    error: str | None,
    processed_at: float | None,
    job_id: str,
    only_if_received: bool = False,
) -> Statement:
    """The statement `mark_outcome` (or, `only_if_received`, `mark_if_received`) runs, for a
    caller that sends it with others."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {STATUSES}")
    return (
        "UPDATE seawall_webhook_inbox SET status = ?, attempts = ?, last_error = ?, "
        "processed_at = ?, job_id = ? WHERE source = ? AND event_id = ?"
        + (" AND status = 'received'" if only_if_received else ""),
        (status, attempts, error, processed_at, job_id, source, event_id),
    )


async def mark_if_received(
    tx: Tx,
    source: str,
    event_id: str,
    *,
    status: str,
    attempts: int,
    error: str | None,
    processed_at: float | None,
    job_id: str,
) -> bool:
    """Write an event's outcome only if it is still `received`; False when it was not."""
    statement = outcome_statement(
        source,
        event_id,
        status=status,
        attempts=attempts,
        error=error,
        processed_at=processed_at,
        job_id=job_id,
        only_if_received=True,
    )
    return bool(await tx.execute(*statement))


async def mark_dead(
    tx: Tx, events: Sequence[tuple[str, str, str, int]], reason: str, now: float
) -> None:
    """Mark events dead whose processing job went to the dead-letter queue: (source, event id,
    job id, receives) each. A row owned by another job (a replay) or already final is left."""
    await tx.executemany(
        "UPDATE seawall_webhook_inbox SET status = 'dead', attempts = attempts + ?, "
        "last_error = ?, processed_at = ?, job_id = ? WHERE source = ? AND event_id = ? "
        "AND status IN ('received', 'processing') AND (job_id IS NULL OR job_id = ?)",
        [
            (receives, reason, now, job_id, source, event_id, job_id)
            for source, event_id, job_id, receives in events
        ],
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


def check_filters(
    *, source: str | None, type: str | None, status: str | None, limit: int, offset: int
) -> None:
    """ValueError for an event listing no inbox can answer: an unknown status, a limit outside
    1..10000, a negative offset, a NUL or lone surrogate in a text filter."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    if not (1 <= limit <= 10_000) or offset < 0:
        raise ValueError("limit must be 1..10000 and offset >= 0")
    for name, value in (("source", source), ("type", type)):
        if value is not None and not storable_text(value):
            raise ValueError(
                f"the {name} filter cannot hold NUL or lone surrogates (none is stored)"
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
    check_filters(source=source, type=type, status=status, limit=limit, offset=offset)
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


async def reset_for_replay(tx: Tx, source: str, event_id: str) -> bool:
    """Put a stored event back to `received` (no error, not processed); False when absent."""
    if not (storable_text(source) and storable_text(event_id)):
        return False
    changed = await tx.execute(
        "UPDATE seawall_webhook_inbox SET status = 'received', last_error = NULL, "
        "processed_at = NULL WHERE source = ? AND event_id = ?",
        (source, event_id),
    )
    return bool(changed)


async def counts_by_status(store: Store) -> dict[str, int]:
    """Stored events by inbox status (statuses with no events are absent)."""
    async with store.read() as tx:
        rows = await tx.fetchall(
            "SELECT status, COUNT(*) AS n FROM seawall_webhook_inbox GROUP BY status"
        )
    return {str(row["status"]): int(row["n"]) for row in rows}


async def event_ids(store: Store, source: str) -> set[str]:
    """The event ids stored for `source`."""
    async with store.read() as tx:
        rows = await tx.fetchall(
            "SELECT event_id FROM seawall_webhook_inbox WHERE source = ?", (source,)
        )
    return {str(row["event_id"]) for row in rows}


async def received_since(store: Store, since: float) -> int:
    """How many events were received at or after the epoch time `since`."""
    async with store.read() as tx:
        count = await tx.fetchval(
            "SELECT COUNT(*) FROM seawall_webhook_inbox WHERE received_at >= ?", (since,)
        )
    return int(count or 0)


def _minute(engine: str, column: str) -> str:
    """The minute index of an epoch column (PostgreSQL's integer cast rounds, so floor there)."""
    if engine == "postgresql":
        return f"FLOOR({column} / 60)"
    return f"CAST({column} / 60 AS INTEGER)"


class MinuteCounts(NamedTuple):
    """Per-minute counts (minute index = epoch // 60) since a time."""

    received: dict[int, int]
    failed: dict[int, int]
    """Of those received, how many are now `failed` or `dead`."""
    processed: dict[int, int]


async def minute_counts(store: Store, since: float) -> MinuteCounts:
    """Events received (and of those, failed or dead) and processed per minute since `since`."""
    async with store.read() as tx:
        rm, pm = _minute(tx.engine, "received_at"), _minute(tx.engine, "processed_at")
        received = await tx.fetchall(
            f"SELECT {rm} AS m, COUNT(*) AS n, "
            "SUM(CASE WHEN status IN ('failed', 'dead') THEN 1 ELSE 0 END) AS e "
            f"FROM seawall_webhook_inbox WHERE received_at >= ? GROUP BY {rm}",
            (since,),
        )
        processed = await tx.fetchall(
            f"SELECT {pm} AS m, COUNT(*) AS n "
            f"FROM seawall_webhook_inbox WHERE processed_at >= ? GROUP BY {pm}",
            (since,),
        )
    return MinuteCounts(
        received={int(r["m"]): int(r["n"]) for r in received},
        failed={int(r["m"]): int(r["e"] or 0) for r in received},
        processed={int(r["m"]): int(r["n"]) for r in processed},
    )


def check_retention(older_than_s: float, tolerances: Iterable[float]) -> None:
    """Raise ValueError unless `older_than_s` keeps event ids at least twice the longest window.

    A signed timestamp is accepted `tolerance_s` either side of now, so a request captured when
    its event arrived can pass the timestamp check until up to twice the tolerance after the
    event was stored (a sender clock ahead by the tolerance, replayed at the far edge). The id
    dedup, which is the inbox row, must outlive that. Schemes that sign no timestamp (GitHub,
    Shopify) rely on the id dedup alone: purging their events lets a captured delivery older than
    the retention be accepted again.
    """
    if not older_than_s >= 0 or older_than_s == float("inf"):
        raise ValueError(f"older_than_s must be a finite number >= 0 (got {older_than_s!r})")
    longest = max(tolerances, default=0.0)
    if older_than_s < 2 * longest:
        raise ValueError(
            f"refusing to purge events younger than {2 * longest:g} s: older_than_s = "
            f"{older_than_s:g} is below twice the longest endpoint tolerance_s ({longest:g} s), "
            "so a replayed delivery could pass the timestamp check after its event id was "
            f"forgotten; use {2 * longest:g} s or more"
        )


async def purge_events(
    store: Store,
    *,
    older_than_s: float,
    statuses: Sequence[str] = PURGEABLE_STATUSES,
    batch_size: int = 5000,
) -> int:
    """Delete events in terminal `statuses` received more than `older_than_s` ago; return how many.

    Only `processed` and `unhandled` may be named; rows still waiting for processing or for an
    operator stay whatever is asked. Rows go `batch_size` per transaction. This function does
    not check the replay window (see `check_retention` and `Webhooks.cleanup`).
    """
    if not older_than_s >= 0 or older_than_s == float("inf"):
        raise ValueError(f"older_than_s must be a finite number >= 0 (got {older_than_s!r})")
    chosen = tuple(dict.fromkeys(statuses))
    refused = [s for s in chosen if s not in PURGEABLE_STATUSES]
    if refused or not chosen:
        raise ValueError(
            f"only terminal statuses can be purged ({', '.join(PURGEABLE_STATUSES)}); "
            f"got {list(statuses)!r}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
    where = f"status IN ({marks(len(chosen))}) AND received_at < ?"
    if store.engine == "postgresql":  # by physical address: a TID scan per batch
        pick = f"SELECT ctid FROM seawall_webhook_inbox WHERE {where} LIMIT ?"
        target = f"ctid = ANY(ARRAY({pick}))"
    else:
        pick = f"SELECT source, event_id FROM seawall_webhook_inbox WHERE {where} LIMIT ?"
        target = f"(source, event_id) IN ({pick})"
    sql = f"DELETE FROM seawall_webhook_inbox WHERE {target} AND {where}"
    cutoff = store.clock.time() - older_than_s
    params = (*chosen, cutoff, batch_size, *chosen, cutoff)
    deleted = 0
    while True:  # short transactions, so ingestion never waits long behind a large purge
        async with store.transaction() as tx:
            count = await tx.execute(sql, params)
        deleted += count
        if count < batch_size:
            return deleted
