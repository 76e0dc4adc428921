"""Jobs on SQS for producers: `SqsJobProducer`, with deduplication and an outbox on DynamoDB.

A job is one SQS message whose body is `{"id", "queue", "payload", "max_receives",
"enqueued_at", "dedup_key"}` (`SqsJobWorker` runs it). SQS standard queues neither deduplicate
nor join a database transaction, so a DynamoDB table (keyed `id`) does both, as the README's
"AWS mode" table says:

- with `dedup_key`, `enqueue` first stores the item `dedup#{queue}#{key}` with a conditional
  PutItem; an enqueue that finds it (within `dedup_window_s`) returns None. Then the message is
  sent and the item marked sent: 3 API calls;
- with `tx` (a `DynamoTx`), the item goes into the caller's transaction instead (the outbox: the
  job commits with the caller's writes, or not at all), and is sent once the transaction has
  committed (`DynamoTx.after_commit`);
- a crash (or a failed send) between storing the item and sending it leaves an unsent item:
  `relay(older_than_s=...)` sends every such item. Run it on a schedule or from the table's
  stream. An item whose send succeeded but whose mark was lost is sent again: its job runs
  twice, which a handler with a stable idempotency key (the payment jobs) makes harmless.

Without `dedup_key` or `tx` a job is one SendMessage. Jobs cannot be delayed past SQS's 15
minutes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

from seawall.aws.clients import AwsClients
from seawall.aws.sqs import SqsQueue, SqsQueueStats
from seawall.aws.transact import DynamoTx, from_item, to_item
from seawall.clock import SYSTEM_CLOCK, Clock

__all__ = ["SqsJobProducer", "job_body"]


def job_body(
    job_id: str,
    queue_name: str,
    payload: dict[str, Any],
    *,
    max_receives: int,
    enqueued_at: float,
    dedup_key: str | None,
) -> str:
    """The SQS message body of one job."""
    return json.dumps(
        {
            "id": job_id,
            "queue": queue_name,
            "payload": payload,
            "max_receives": max_receives,
            "enqueued_at": enqueued_at,
            "dedup_key": dedup_key,
        },
        separators=(",", ":"),
    )


class SqsJobProducer:
    """The `JobProducer` on SQS `queue`, deduplicating and keeping outbox items in `table`."""

    def __init__(
        self,
        queue: SqsQueue,
        table: str,
        *,
        default_max_receives: int = 10,
        dedup_window_s: float = 86_400.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.queue = queue
        self.table = table
        self.clients: AwsClients = queue.clients
        self.default_max_receives = default_max_receives
        self.dedup_window_s = dedup_window_s
        self.clock = clock

    def _item(
        self, queue_name: str, payload: dict[str, Any], dedup_key: str | None, receives: int | None
    ) -> dict[str, Any]:
        job_id = uuid.uuid4().hex
        now = self.clock.time()
        body = job_body(
            job_id,
            queue_name,
            payload,
            max_receives=receives or self.default_max_receives,
            enqueued_at=now,
            dedup_key=dedup_key,
        )
        key = f"dedup#{queue_name}#{dedup_key}" if dedup_key else f"job#{job_id}"
        return {
            "id": key,
            "job_id": job_id,
            "body": body,
            "sent": False,
            "enqueued_at": now,
            "ttl": int(now + self.dedup_window_s),
        }

    async def enqueue(
        self,
        queue_name: str,
        payload: dict[str, Any],
        *,
        tx: Any = None,
        dedup_key: str | None = None,
        max_receives: int | None = None,
    ) -> str | None:
        """Add one job (as an outbox item of `tx`, a DynamoTx, when given); its id, or None
        when `dedup_key` was seen within the window."""
        item = self._item(queue_name, payload, dedup_key, max_receives)
        condition = "attribute_not_exists(id) OR #t < :now"
        names, values = {"#t": "ttl"}, {":now": int(self.clock.time())}
        if tx is not None:
            if not isinstance(tx, DynamoTx):
                raise TypeError("an SQS job joins a DynamoTx only (the outbox item is in DynamoDB)")
            tx.put(self.table, item, condition=condition, names=names, values=values)
            tx.after_commit(lambda: self._send(item))
            return str(item["job_id"])
        if dedup_key is None:
            await asyncio.to_thread(self.queue.send, item["body"])
            return str(item["job_id"])
        db = self.clients.dynamodb
        try:
            await asyncio.to_thread(
                db.put_item,
                TableName=self.table,
                Item=to_item(item),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
            )
        except db.exceptions.ConditionalCheckFailedException:
            return None
        await asyncio.to_thread(self._send, item)
        return str(item["job_id"])

    def _send(self, item: dict[str, Any]) -> None:
        self.queue.send(str(item["body"]))
        self.clients.dynamodb.update_item(
            TableName=self.table,
            Key=to_item({"id": item["id"]}),
            UpdateExpression="SET sent = :t",
            ExpressionAttributeValues=to_item({":t": True}),
        )

    def _unsent(self, older_than_s: float) -> Iterator[dict[str, Any]]:
        """The stored jobs not marked sent, stored at least `older_than_s` ago (a table scan)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "sent = :f AND enqueued_at <= :before",
            "ExpressionAttributeValues": to_item(
                {":f": False, ":before": self.clock.time() - older_than_s}
            ),
            "ConsistentRead": True,
        }
        while True:
            answer = self.clients.dynamodb.scan(**request)
            yield from (from_item(raw) for raw in answer.get("Items", []))
            if not answer.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def relay(self, *, older_than_s: float = 0.0) -> int:
        """Send every stored job not marked sent and stored at least `older_than_s` ago (the
        outbox relay); return how many were sent."""
        sent = 0
        for item in self._unsent(older_than_s):
            self._send(item)
            sent += 1
        return sent

    def unsent(self) -> int:
        """How many stored jobs are not sent yet (committed outbox items the relay will send)."""
        return sum(1 for _ in self._unsent(0.0))

    def stats(self) -> SqsQueueStats:
        """The SQS queue's approximate ready, in-flight, delayed and dead-letter counts."""
        return self.queue.stats()
