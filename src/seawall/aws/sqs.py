"""The queue on SQS: send (batched), receive (long polling), delete, retry later, dead letters.

SQS keeps the guarantees of seawall's SQL queue in its own terms: a received message is
invisible for the visibility timeout (the lease), `ApproximateReceiveCount` is the receive count,
and the queue's redrive policy moves a message to the dead-letter queue after `maxReceiveCount`
receives. Differences from the SQL queue (README "AWS mode"): a delay is at most 15 minutes (900
s; longer waits are refused here, not silently cut), nothing can be enqueued inside a database
transaction (a DynamoDB item cannot commit with an SQS send), standard queues deliver at least
once and in no particular order, FIFO queues keep order per message group.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seawall.aws.clients import AwsClients

__all__ = [
    "MAX_BATCH",
    "MAX_DELAY_S",
    "SqsMessage",
    "SqsQueue",
    "SqsQueueStats",
    "SqsSendError",
    "lambda_sqs_event",
    "message_from_record",
    "move_task_unsupported",
]

MAX_DELAY_S = 900
"""SQS's longest delivery delay (15 minutes)."""
MAX_BATCH = 10
"""SQS's most entries per SendMessageBatch, DeleteMessageBatch and ReceiveMessage."""
MAX_BATCH_BYTES = 262_144
"""SQS's largest message, and the largest batch in all."""


class SqsSendError(Exception):
    """SQS refused some entries of a batch; `failed` maps entry index to SQS's reason."""

    def __init__(self, failed: dict[int, str]) -> None:
        self.failed = failed
        first = next(iter(failed.items()))
        super().__init__(f"SQS refused {len(failed)} message(s), e.g. #{first[0]}: {first[1]}")


@dataclass(frozen=True, slots=True)
class SqsMessage:
    """One received message: its body, receipt handle, receive count and FIFO group."""

    id: str
    body: str
    receipt: str
    receives: int
    group_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SqsQueueStats:
    """Approximate counts SQS reports for the queue and its dead-letter queue."""

    ready: int
    in_flight: int
    delayed: int
    dead: int


class SqsQueue:
    """A queue URL (and its dead-letter queue's) on SQS, used through boto3."""

    def __init__(
        self,
        clients: AwsClients,
        url: str,
        *,
        dead_letter_url: str | None = None,
        fifo: bool | None = None,
    ) -> None:
        self.clients = clients
        self.url = url
        self.dead_letter_url = dead_letter_url
        self.fifo = url.endswith(".fifo") if fifo is None else fifo
        self.move_task: bool | None = None
        """Whether the endpoint offers StartMessageMoveTask (None: not asked yet)."""

    # -- sending --------------------------------------------------------------------------------

    def _entry(
        self, index: int, body: str, delay_s: int, group_id: str | None, dedup_id: str | None
    ) -> dict[str, Any]:
        if not 0 <= delay_s <= MAX_DELAY_S:
            raise ValueError(
                f"SQS delays are 0 to {MAX_DELAY_S} s (got {delay_s}); for longer waits keep the "
                "job in a table and send it later"
            )
        if len(body.encode()) > MAX_BATCH_BYTES:
            raise ValueError(f"an SQS message is at most {MAX_BATCH_BYTES} bytes")
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": body}
        if self.fifo:
            if delay_s:
                raise ValueError("FIFO queues take no per-message delay (set it on the queue)")
            entry["MessageGroupId"] = group_id or "default"
            entry["MessageDeduplicationId"] = dedup_id or uuid.uuid4().hex
        elif delay_s:
            entry["DelaySeconds"] = delay_s
        return entry

    def send(
        self,
        body: str,
        *,
        delay_s: int = 0,
        group_id: str | None = None,
        dedup_id: str | None = None,
    ) -> str:
        """Send one message; return its SQS message id."""
        entry = self._entry(0, body, delay_s, group_id, dedup_id)
        entry.pop("Id")
        request = {"QueueUrl": self.url, **entry}
        return str(self.clients.sqs.send_message(**request)["MessageId"])

    def send_many(
        self,
        bodies: Sequence[str],
        *,
        delay_s: int = 0,
        group_id: str | None = None,
    ) -> list[str]:
        """Send messages in batches of up to 10 (and 256 KiB); return their ids in order.

        SqsSendError names the entries SQS refused; the others were sent.
        """
        entries = [self._entry(i, b, delay_s, group_id, None) for i, b in enumerate(bodies)]
        ids: list[str] = [""] * len(entries)
        failed: dict[int, str] = {}
        for batch in _batches(entries):
            answer = self.clients.sqs.send_message_batch(QueueUrl=self.url, Entries=batch)
            for ok in answer.get("Successful", []):
                ids[int(ok["Id"])] = ok["MessageId"]
            for bad in answer.get("Failed", []):
                failed[int(bad["Id"])] = f"{bad.get('Code')}: {bad.get('Message', '')}"
        if failed:
            raise SqsSendError(failed)
        return ids

    # -- receiving ------------------------------------------------------------------------------

    def receive(
        self,
        *,
        max_messages: int = MAX_BATCH,
        wait_s: int = 20,
        visibility_timeout_s: int | None = None,
        dead_letters: bool = False,
    ) -> list[SqsMessage]:
        """Receive up to `max_messages` (long polling up to `wait_s`); each counts a receive."""
        request: dict[str, Any] = {
            "QueueUrl": self._dlq() if dead_letters else self.url,
            "MaxNumberOfMessages": max(1, min(MAX_BATCH, max_messages)),
            "WaitTimeSeconds": max(0, min(20, wait_s)),
            "MessageSystemAttributeNames": ["All"],
        }
        if visibility_timeout_s is not None:
            request["VisibilityTimeout"] = visibility_timeout_s
        answer = self.clients.sqs.receive_message(**request)
        return [_message(m) for m in answer.get("Messages", [])]

    def delete_many(self, receipts: Sequence[str], *, dead_letters: bool = False) -> int:
        """Delete received messages (acknowledge them); return how many SQS deleted."""
        url = self._dlq() if dead_letters else self.url
        deleted = 0
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)]
        for start in range(0, len(entries), MAX_BATCH):
            answer = self.clients.sqs.delete_message_batch(
                QueueUrl=url, Entries=entries[start : start + MAX_BATCH]
            )
            deleted += len(answer.get("Successful", []))
        return deleted

    def retry_later(self, receipt: str, delay_s: int) -> None:
        """Make a received message visible again in `delay_s` seconds (at most 12 hours)."""
        self.clients.sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=max(0, min(delay_s, 43_200))
        )

    # -- dead letters ---------------------------------------------------------------------------

    def _dlq(self) -> str:
        if not self.dead_letter_url:
            raise ValueError("this SqsQueue was made without its dead_letter_url")
        return self.dead_letter_url

    def peek_dead_letters(self, limit: int = MAX_BATCH) -> list[SqsMessage]:
        """Up to `limit` messages of the dead-letter queue, left in it (visible again at once)."""
        found: dict[str, SqsMessage] = {}
        while len(found) < limit:
            batch = self.receive(
                max_messages=limit - len(found),
                wait_s=0,
                visibility_timeout_s=0,
                dead_letters=True,
            )
            fresh = [m for m in batch if m.id not in found]
            if not fresh:
                break
            found.update((m.id, m) for m in fresh)
        return list(found.values())[:limit]

    def redrive(self, *, limit: int | None = None, rate_per_s: float | None = None) -> int:
        """Move dead letters back to the queue (at most `limit`, at most `rate_per_s` a second);
        return how many moved, or for a server-side move how many it covers.

        A whole-queue redrive asks SQS to do it (StartMessageMoveTask: server-side, in the
        background, the dead-letter queue's approximate count is returned). An endpoint that
        answers that it does not offer the task (`move_task_unsupported`), and a redrive of a
        few, take the client-side move (`move`).
        """
        if limit is None and self.move_task is not False:
            started = self.start_move_task(rate_per_s)
            if started is not None:
                return started
        return self.move(limit=limit, rate_per_s=rate_per_s)

    def start_move_task(self, rate_per_s: float | None = None) -> int | None:
        """Start SQS's move of every dead letter back to the queue; how many it covers, or None
        (remembered) when the endpoint does not offer StartMessageMoveTask."""
        sqs = self.clients.sqs
        attributes = ["QueueArn", "ApproximateNumberOfMessages"]
        dlq = sqs.get_queue_attributes(QueueUrl=self._dlq(), AttributeNames=attributes)
        main = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        request: dict[str, Any] = {
            "SourceArn": dlq["Attributes"]["QueueArn"],
            "DestinationArn": main["Attributes"]["QueueArn"],
        }
        if rate_per_s is not None:
            request["MaxNumberOfMessagesPerSecond"] = max(1, min(500, math.ceil(rate_per_s)))
        try:
            sqs.start_message_move_task(**request)
        except Exception as exc:
            if not move_task_unsupported(exc):
                raise
            self.move_task = False
            return None
        self.move_task = True
        return int(dlq["Attributes"].get("ApproximateNumberOfMessages", 0))

    def move(self, *, limit: int | None = None, rate_per_s: float | None = None) -> int:
        """Move dead letters back to the queue client-side (receive, send, delete).

        Each message is sent to the queue before it is deleted from the dead-letter queue, so a
        crash in between duplicates it (the inbox mark makes processing it twice harmless) and
        never loses it. Works on every endpoint and FIFO queue, and can move a few.
        """
        moved = 0
        started = time.monotonic()
        while limit is None or moved < limit:
            want = MAX_BATCH if limit is None else min(MAX_BATCH, limit - moved)
            if rate_per_s is not None:
                want = max(1, min(want, math.floor(rate_per_s) or 1))
                time.sleep(max(0.0, moved / rate_per_s - (time.monotonic() - started)))
            batch = self.receive(
                max_messages=want, wait_s=0, visibility_timeout_s=30, dead_letters=True
            )
            if not batch:
                break
            for message in batch:
                self.send(message.body, group_id=message.group_id)
            self.delete_many([m.receipt for m in batch], dead_letters=True)
            moved += len(batch)
        return moved

    def purge_dead_letters(self) -> None:
        """Delete every dead letter for good (SQS's PurgeQueue: once a minute at most)."""
        self.clients.sqs.purge_queue(QueueUrl=self._dlq())

    def stats(self) -> SqsQueueStats:
        """Approximate ready, in-flight, delayed and dead counts."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        sqs = self.clients.sqs
        main = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)["Attributes"]
        dead = 0
        if self.dead_letter_url:
            dlq = sqs.get_queue_attributes(QueueUrl=self.dead_letter_url, AttributeNames=names)
            dead = int(dlq["Attributes"].get("ApproximateNumberOfMessages", 0))
        return SqsQueueStats(
            ready=int(main.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(main.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(main.get("ApproximateNumberOfMessagesDelayed", 0)),
            dead=dead,
        )


UNSUPPORTED_CODES = frozenset(
    {
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "InvalidAction",
        "UnknownOperationException",
        "NotImplemented",
        "NotImplementedException",
    }
)
"""Error codes with which an SQS-compatible endpoint says it does not offer an operation."""


def move_task_unsupported(exc: Exception) -> bool:
    """True when `exc` is an endpoint's answer that it does not offer StartMessageMoveTask.

    That is one of UNSUPPORTED_CODES, an HTTP 501, or an HTTP 500 that is not in SQS's error
    format (its code is the bare status: a local endpoint that crashed on an operation it does
    not implement, as moto's server does). SQS's own errors (AccessDenied, a queue that is not
    a dead-letter queue, a throttle, a well-formed InternalError) are raised, not hidden.
    """
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in UNSUPPORTED_CODES or status == 501 or (status == 500 and code == "500")


def _batches(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split entries into SQS batches: at most 10 entries and 256 KiB of bodies each."""
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        length = len(entry["MessageBody"].encode())
        if current and (len(current) == MAX_BATCH or size + length > MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(entry)
        size += length
    if current:
        batches.append(current)
    return batches


def _message(raw: dict[str, Any]) -> SqsMessage:
    attributes = raw.get("Attributes", {})
    return SqsMessage(
        id=raw["MessageId"],
        body=raw["Body"],
        receipt=raw["ReceiptHandle"],
        receives=int(attributes.get("ApproximateReceiveCount", 1)),
        group_id=attributes.get("MessageGroupId"),
        attributes=dict(attributes),
    )


def message_from_record(record: dict[str, Any]) -> SqsMessage:
    """An SQS message as a Lambda SQS event record carries it (`messageId`, `body`, ...)."""
    attributes = record.get("attributes", {}) or {}
    return SqsMessage(
        id=str(record["messageId"]),
        body=str(record.get("body", "")),
        receipt=str(record.get("receiptHandle", "")),
        receives=int(attributes.get("ApproximateReceiveCount", 1)),
        group_id=attributes.get("MessageGroupId"),
        attributes={str(k): str(v) for k, v in attributes.items()},
    )


def lambda_sqs_event(messages: Sequence[SqsMessage], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source delivers for `messages` (to invoke a worker locally,
    as the demo, the benchmarks and the tests do; `message_from_record` reads it back)."""
    return {
        "Records": [
            {
                "messageId": m.id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {
                    **m.attributes,
                    "ApproximateReceiveCount": str(m.receives),
                    **({"MessageGroupId": m.group_id} if m.group_id else {}),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
            }
            for m in messages
        ]
    }


def body_json(message: SqsMessage) -> Any:
    """The message body parsed as JSON (ValueError when it is not)."""
    return json.loads(message.body)
