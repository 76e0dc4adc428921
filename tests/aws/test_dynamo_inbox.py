"""The inbox on DynamoDB against a real DynamoDB API endpoint: stored once, marked once."""

from __future__ import annotations

import threading

import pytest

from seawall.aws.clients import AwsClients
from seawall.aws.inbox import MARK_LABEL, DynamoInbox
from seawall.aws.resources import AwsNames, QueueUrls
from seawall.aws.transact import DynamoTx, TransactionCancelledError
from seawall.webhooks.events import EventNotFoundError
from seawall.webhooks.inbox import InboxEntry


def _entry(event_id: str = "evt_1", body: bytes = b'{"id":"evt_1"}') -> InboxEntry:
    return InboxEntry("stripe", event_id, "payment.completed", body, '{"x-a":"1"}', 1000.0)


def _mark(inbox: DynamoInbox, tx: DynamoTx, status: str = "processed") -> None:
    inbox.mark_in(
        tx,
        "stripe",
        "evt_1",
        status=status,
        attempts=1,
        error=None,
        processed_at=1001.0,
        job_id="m1",
    )


async def test_concurrent_deliveries_store_one_item(
    aws: AwsClients, names: AwsNames, resources: QueueUrls
) -> None:
    inbox = DynamoInbox(aws, names.inbox_table)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(inbox.insert(_entry()))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    stored = await inbox.get_event("stripe", "evt_1")
    assert stored.status == "received" and stored.body == b'{"id":"evt_1"}'
    assert stored.headers == {"x-a": "1"}


async def test_binary_bodies_round_trip(
    aws: AwsClients, names: AwsNames, resources: QueueUrls
) -> None:
    inbox = DynamoInbox(aws, names.inbox_table)
    raw = bytes(range(256)) * 4
    assert inbox.insert(_entry("bin", raw))
    assert (await inbox.get_event("stripe", "bin")).body == raw


async def test_effects_and_mark_commit_together_and_only_once(
    aws: AwsClients, names: AwsNames, resources: QueueUrls
) -> None:
    inbox = DynamoInbox(aws, names.inbox_table)
    inbox.insert(_entry())
    effects = names.idempotency_table  # any table with key `id` serves as the effects table
    first = DynamoTx(aws)
    first.put(effects, {"id": "charge-1", "amount": 100})
    _mark(inbox, first)
    first.commit()
    second = DynamoTx(aws)  # a redelivery: its effect must not land
    second.put(effects, {"id": "charge-2", "amount": 100})
    _mark(inbox, second)
    with pytest.raises(TransactionCancelledError) as caught:
        second.commit()
    assert caught.value.failed(MARK_LABEL)
    got = aws.dynamodb.get_item(TableName=effects, Key={"id": {"S": "charge-2"}})
    assert "Item" not in got
    assert (await inbox.get_event("stripe", "evt_1")).status == "processed"


async def test_replay_resets_and_listing_and_counts(
    aws: AwsClients, names: AwsNames, resources: QueueUrls
) -> None:
    inbox = DynamoInbox(aws, names.inbox_table)
    inbox.insert(_entry())
    inbox.insert(_entry("evt_2"))
    assert inbox.mark(
        "stripe", "evt_1", status="dead", attempts=3, error="boom", processed_at=1.0, job_id="m"
    )
    assert not inbox.mark(
        "stripe", "evt_1", status="processed", attempts=4, error=None, processed_at=2.0, job_id="m"
    )
    assert await inbox.counts_by_status() == {"dead": 1, "received": 1}
    [dead] = await inbox.list_events(status="dead")
    assert dead.event_id == "evt_1" and dead.last_error == "boom" and dead.body is None
    await inbox.reset_for_replay("stripe", "evt_1")
    assert (await inbox.get_event("stripe", "evt_1")).status == "received"
    with pytest.raises(EventNotFoundError):
        await inbox.reset_for_replay("stripe", "nope")
    with pytest.raises(ValueError, match="unknown status"):
        await inbox.list_events(status="bogus")


async def test_a_transaction_holds_at_most_one_hundred_items(aws: AwsClients) -> None:
    tx = DynamoTx(aws)
    for i in range(100):
        tx.put("t", {"id": str(i)})
    with pytest.raises(ValueError, match="at most 100 items"):
        tx.put("t", {"id": "101"})
