"""The inbox as every backend offers it: the `Inbox` protocol, and `SqlInbox` for SQLite and
PostgreSQL (over the SQL in `seawall.webhooks.inbox`). `seawall.aws.inbox.DynamoInbox` is the
DynamoDB implementation; `tests/contracts/test_inbox_contract.py` runs one suite on all three.

The protocol holds what operators and tools use (store, look, list, count, replay, mark). The
hot paths keep their engine's own form: the SQL ingestor batches inserts inside a transaction,
the SQL worker marks outcomes in the job's transaction, and on AWS the mark joins a DynamoDB
transaction (`DynamoInbox.mark_in`).
"""

from __future__ import annotations

from typing import Protocol

from seawall.store import Store
from seawall.webhooks import inbox
from seawall.webhooks.events import EventNotFoundError
from seawall.webhooks.inbox import InboxEntry, StoredEvent

__all__ = ["Inbox", "SqlInbox"]


class Inbox(Protocol):
    """Verified webhooks, one per (source, event id), and their outcomes."""

    async def save(self, entry: InboxEntry) -> bool:
        """Store a verified delivery; False when (source, event id) is already stored."""
        ...

    async def get_event(self, source: str, event_id: str) -> StoredEvent:
        """One stored event with its body; EventNotFoundError when absent."""
        ...

    async def list_events(
        self,
        *,
        source: str | None = None,
        type: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[StoredEvent]:
        """Stored events, newest first, optionally of one source, type and status (no bodies);
        ValueError for a filter no event can match (an unknown status, a NUL, a bad limit)."""
        ...

    async def counts_by_status(self) -> dict[str, int]:
        """Stored events by status (statuses with none are absent)."""
        ...

    async def reset_for_replay(self, source: str, event_id: str) -> None:
        """Put a stored event back to `received`; EventNotFoundError when absent."""
        ...

    async def mark_final(
        self,
        source: str,
        event_id: str,
        *,
        status: str,
        attempts: int,
        error: str | None,
        processed_at: float,
        job_id: str,
    ) -> bool:
        """Record an event's outcome if it is still `received`; False when it was not."""
        ...


class SqlInbox:
    """The inbox table of a SQLite or PostgreSQL store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def save(self, entry: InboxEntry) -> bool:
        """Store a verified delivery; False when (source, event id) is already stored."""
        async with self.store.transaction() as tx:
            return bool(await inbox.insert_entries(tx, [entry]))

    async def get_event(self, source: str, event_id: str) -> StoredEvent:
        """One stored event with its body; EventNotFoundError when absent."""
        return await inbox.get_event(self.store, source, event_id)

    async def list_events(
        self,
        *,
        source: str | None = None,
        type: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[StoredEvent]:
        """Stored events, newest first, optionally of one source, type and status (no bodies)."""
        return await inbox.list_events(
            self.store, source=source, type=type, status=status, limit=limit, offset=offset
        )

    async def counts_by_status(self) -> dict[str, int]:
        """Stored events by status (statuses with none are absent)."""
        return await inbox.counts_by_status(self.store)

    async def reset_for_replay(self, source: str, event_id: str) -> None:
        """Put a stored event back to `received`; EventNotFoundError when absent."""
        async with self.store.transaction() as tx:
            if not await inbox.reset_for_replay(tx, source, event_id):
                raise EventNotFoundError(source, event_id)

    async def mark_final(
        self,
        source: str,
        event_id: str,
        *,
        status: str,
        attempts: int,
        error: str | None,
        processed_at: float,
        job_id: str,
    ) -> bool:
        """Record an event's outcome if it is still `received`; False when it was not."""
        async with self.store.transaction() as tx:
            return await inbox.mark_if_received(
                tx,
                source,
                event_id,
                status=status,
                attempts=attempts,
                error=error,
                processed_at=processed_at,
                job_id=job_id,
            )
