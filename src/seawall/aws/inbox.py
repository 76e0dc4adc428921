"""The webhook inbox on DynamoDB: one item per (source, event id), written once, marked once.

`insert` is a conditional PutItem (`attribute_not_exists`), so of any number of concurrent
deliveries of one event exactly one stores it. `mark_in` adds the final mark to the handler's
DynamoTx, conditional on the event still being `received`: the handler's effects and the mark
commit together, and a redelivered message that finds the mark changes nothing. Statuses and the
StoredEvent shape are the SQL inbox's (`seawall.webhooks.events.STATUSES`).

Listing and counting scan the table: fine for an operator's look at thousands of events; for
millions, add a global secondary index on `status` (the SAM template shows where).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from seawall.aws.clients import AwsClients
from seawall.aws.transact import DynamoTx, TransactionCancelledError, from_item, to_item
from seawall.webhooks.events import STATUSES, EventNotFoundError
from seawall.webhooks.inbox import InboxEntry, StoredEvent, check_filters

__all__ = ["MARK_LABEL", "DynamoInbox", "key_fits"]

MARK_LABEL = "inbox mark"
"""The label of the inbox mark in a DynamoTx (TransactionCancelledError.failed(MARK_LABEL))."""


class DynamoInbox:
    """The inbox table `table` (keys: source, event_id), used through boto3."""

    def __init__(
        self, clients: AwsClients, table: str, *, retention_s: float | None = None
    ) -> None:
        self.clients = clients
        self.table = table
        self.retention_s = retention_s
        """When set, items get a `ttl` this long after receipt (DynamoDB deletes them later)."""

    def insert(self, entry: InboxEntry) -> bool:
        """Store a verified delivery; False when (source, event id) is already stored."""
        item: dict[str, Any] = {
            "source": entry.source,
            "event_id": entry.event_id,
            "event_type": entry.event_type,
            "body": entry.body,
            "headers": entry.headers_json,
            "received_at": entry.received_at,
            "status": "received",
            "attempts": 0,
        }
        if self.retention_s:
            item["ttl"] = int(entry.received_at + self.retention_s)
        db = self.clients.dynamodb
        try:
            db.put_item(
                TableName=self.table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(event_id)",
            )
        except db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def load(self, source: str, event_id: str) -> dict[str, Any] | None:
        """The stored item as Python values (body as bytes), or None (a consistent read)."""
        if not key_fits(source, event_id):
            return None  # DynamoDB would refuse the key: no item can have it
        answer = self.clients.dynamodb.get_item(
            TableName=self.table,
            Key=to_item({"source": source, "event_id": event_id}),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return from_item(item) if item else None

    def mark_in(
        self,
        tx: DynamoTx,
        source: str,
        event_id: str,
        *,
        status: str,
        attempts: int,
        error: str | None,
        processed_at: float,
        job_id: str,
    ) -> None:
        """Add the event's final mark to `tx`, conditional on it still being `received`."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {STATUSES}")
        tx.update(
            self.table,
            {"source": source, "event_id": event_id},
            "SET #s = :s, attempts = :a, last_error = :e, processed_at = :p, job_id = :j",
            condition="#s = :received",
            names={"#s": "status"},
            values={
                ":s": status,
                ":a": attempts,
                ":e": error,
                ":p": processed_at,
                ":j": job_id,
                ":received": "received",
            },
            label=MARK_LABEL,
        )

    def mark(self, source: str, event_id: str, **fields: Any) -> bool:
        """Write a final mark now (no handler effects to join); False when already final."""
        tx = DynamoTx(self.clients)
        self.mark_in(tx, source, event_id, **fields)
        try:
            tx.commit()
        except TransactionCancelledError:
            return False
        return True

    async def save(self, entry: InboxEntry) -> bool:
        """Store a verified delivery; False when (source, event id) is already stored."""
        return await asyncio.to_thread(self.insert, entry)

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
        fields = {
            "status": status,
            "attempts": attempts,
            "error": error,
            "processed_at": processed_at,
            "job_id": job_id,
        }
        return await asyncio.to_thread(lambda: self.mark(source, event_id, **fields))

    async def reset_for_replay(self, source: str, event_id: str) -> None:
        """Put a stored event back to `received` (EventNotFoundError when absent)."""
        await asyncio.to_thread(self._reset, source, event_id)

    def _reset(self, source: str, event_id: str) -> None:
        if not key_fits(source, event_id):
            raise EventNotFoundError(source, event_id)
        db = self.clients.dynamodb
        try:
            db.update_item(
                TableName=self.table,
                Key=to_item({"source": source, "event_id": event_id}),
                UpdateExpression="SET #s = :r REMOVE last_error, processed_at",
                ConditionExpression="attribute_exists(event_id)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item({":r": "received"}),
            )
        except db.exceptions.ConditionalCheckFailedException:
            raise EventNotFoundError(source, event_id) from None

    async def get_event(self, source: str, event_id: str) -> StoredEvent:
        """One stored event with its body; EventNotFoundError when absent."""
        item = await asyncio.to_thread(self.load, source, event_id)
        if item is None:
            raise EventNotFoundError(source, event_id)
        return _stored(item, with_body=True)

    def _scan(self) -> list[dict[str, Any]]:
        db = self.clients.dynamodb
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.table}
        while True:
            answer = db.scan(**request)
            items.extend(from_item(i) for i in answer.get("Items", []))
            last = answer.get("LastEvaluatedKey")
            if not last:
                return items
            request["ExclusiveStartKey"] = last

    async def list_events(
        self,
        *,
        source: str | None = None,
        type: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[StoredEvent]:
        """Stored events (newest first), optionally of one source, type and status, without
        bodies; the filters are checked as the SQL inbox checks them (`check_filters`)."""
        check_filters(source=source, type=type, status=status, limit=limit, offset=offset)
        found = [
            i
            for i in await asyncio.to_thread(self._scan)
            if (source is None or i["source"] == source)
            and (type is None or i["event_type"] == type)
            and (status is None or i["status"] == status)
        ]
        found.sort(key=lambda i: (-float(i["received_at"]), i["source"], i["event_id"]))
        return [_stored(i, with_body=False) for i in found[offset : offset + limit]]

    async def counts_by_status(self) -> dict[str, int]:
        """Stored events by status."""
        return dict(Counter(str(i["status"]) for i in await asyncio.to_thread(self._scan)))


def key_fits(source: str, event_id: str) -> bool:
    """True when DynamoDB takes (source, event_id) as a key: non-empty, the partition key at
    most 2048 bytes and the sort key at most 1024."""
    return 0 < _size(source) <= 2048 and 0 < _size(event_id) <= 1024


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _stored(item: dict[str, Any], *, with_body: bool) -> StoredEvent:
    body = item.get("body") if with_body else None
    return StoredEvent(
        source=item["source"],
        event_id=item["event_id"],
        event_type=item["event_type"],
        status=item["status"],
        attempts=int(item.get("attempts", 0)),
        received_at=float(item["received_at"]),
        processed_at=None if item.get("processed_at") is None else float(item["processed_at"]),
        last_error=item.get("last_error"),
        job_id=item.get("job_id"),
        headers=json.loads(item.get("headers") or "{}"),
        body=bytes(body) if body is not None else None,
    )
