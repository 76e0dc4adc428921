"""The queue on SQS against a real SQS API endpoint: batches, receive counts, dead letters."""

from __future__ import annotations

import json

import pytest

from seawall.aws.clients import AwsClients
from seawall.aws.resources import AwsNames, QueueUrls, ensure_resources
from seawall.aws.sqs import SqsQueue


def _queue(aws: AwsClients, resources: QueueUrls) -> SqsQueue:
    return SqsQueue(aws, resources.queue, dead_letter_url=resources.dead_letter_queue)


def test_send_many_batches_by_ten_and_receive_counts_each_receive(
    aws: AwsClients, resources: QueueUrls
) -> None:
    queue = _queue(aws, resources)
    ids = queue.send_many([json.dumps({"n": i}) for i in range(23)])
    assert len(set(ids)) == 23 and aws.calls["sqs.SendMessageBatch"] == 3
    got = []
    while len(got) < 23:
        batch = queue.receive(wait_s=0, visibility_timeout_s=0)
        assert batch
        got.extend(m for m in batch if m.id not in {g.id for g in got})
    again = {m.id: m.receives for m in queue.receive(wait_s=0)}
    assert again and all(count >= 2 for count in again.values())
    receipts = [m.receipt for m in queue.receive(max_messages=10, wait_s=0, visibility_timeout_s=0)]
    assert queue.delete_many(receipts) == len(receipts)


def test_delays_past_fifteen_minutes_are_refused_not_cut(
    aws: AwsClients, resources: QueueUrls
) -> None:
    queue = _queue(aws, resources)
    with pytest.raises(ValueError, match="0 to 900 s"):
        queue.send("{}", delay_s=901)
    with pytest.raises(ValueError, match="at most 262144 bytes"):
        queue.send("x" * 262_145)
    assert aws.calls["sqs.SendMessage"] == 0
    queue.send("{}", delay_s=900)
    assert queue.stats().delayed == 1


def test_after_max_receives_sqs_dead_letters_and_redrive_brings_it_back(
    aws: AwsClients, resources: QueueUrls
) -> None:
    queue = _queue(aws, resources)
    queue.send('{"job": 1}')
    for expected in (1, 2, 3):  # received and never deleted: each receive counts
        [message] = queue.receive(wait_s=0, visibility_timeout_s=0)
        assert message.receives == expected
    assert queue.receive(wait_s=0) == []  # the fourth receive finds it moved to the DLQ
    [dead] = queue.peek_dead_letters()
    assert json.loads(dead.body) == {"job": 1}
    assert queue.stats().dead == 1
    assert queue.redrive() == 1
    assert queue.stats().dead == 0
    [back] = queue.receive(wait_s=0)
    assert json.loads(back.body) == {"job": 1}


def test_fifo_keeps_groups_and_dedups(aws: AwsClients) -> None:
    names = AwsNames("fifo-t1", fifo=True)
    urls = ensure_resources(aws, names)
    queue = SqsQueue(aws, urls.queue, dead_letter_url=urls.dead_letter_queue)
    assert queue.fifo
    queue.send("a1", group_id="a", dedup_id="same")
    queue.send("a1-again", group_id="a", dedup_id="same")  # deduplicated by SQS
    queue.send_many(["a2", "a3"], group_id="a")
    bodies = [m.body for m in queue.receive(wait_s=0)]
    assert bodies == ["a1", "a2", "a3"]
    with pytest.raises(ValueError, match="FIFO"):
        queue.send("x", delay_s=5)
