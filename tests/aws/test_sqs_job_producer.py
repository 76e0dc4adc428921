"""Jobs on SQS against a real AWS API endpoint: dedup, the DynamoDB outbox, the job worker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tests.aws.lambda_events import FakeLambdaContext

from seawall.aws.clients import AwsClients
from seawall.aws.job_worker import SqsJobWorker
from seawall.aws.jobs import SqsJobProducer
from seawall.aws.poller import run
from seawall.aws.resources import AwsNames, QueueUrls, create_table
from seawall.aws.sqs import SqsQueue
from seawall.aws.transact import DynamoTx, TransactionCancelledError
from seawall.jobs import Job, JobProducer, RetryLater
from seawall.resilience import Constant


@pytest.fixture
def jobs(aws: AwsClients, names: AwsNames, resources: QueueUrls) -> SqsJobProducer:
    table = f"{names.prefix}-jobs"
    create_table(aws, table, [("id", "S")])
    queue = SqsQueue(aws, resources.queue, dead_letter_url=resources.dead_letter_queue)
    return SqsJobProducer(queue, table, default_max_receives=3)


def bodies(queue: SqsQueue) -> list[dict[str, Any]]:
    found = queue.receive(wait_s=0, visibility_timeout_s=0)
    return [json.loads(m.body) for m in found]


async def test_a_dedup_key_enqueues_once_and_the_job_names_its_queue(jobs: SqsJobProducer) -> None:
    produced: JobProducer = jobs  # the interface PaymentGatewayService takes
    first = await produced.enqueue("payments.charge", {"n": 1}, dedup_key="o1-charge")
    again = await produced.enqueue("payments.charge", {"n": 2}, dedup_key="o1-charge")
    other = await produced.enqueue("payments.charge", {"n": 3})
    assert first and again is None and other
    sent = sorted(bodies(jobs.queue), key=lambda b: b["payload"]["n"])
    assert [(b["id"], b["payload"]) for b in sent] == [(first, {"n": 1}), (other, {"n": 3})]
    assert sent[0]["queue"] == "payments.charge" and sent[0]["max_receives"] == 3
    assert jobs.unsent() == 0


async def test_an_outbox_item_is_sent_after_its_transaction_commits_and_never_if_cancelled(
    aws: AwsClients, names: AwsNames, jobs: SqsJobProducer
) -> None:
    orders = f"{names.prefix}-orders"
    create_table(aws, orders, [("id", "S")])
    tx = DynamoTx(aws)
    tx.put(orders, {"id": "o1"}, condition="attribute_not_exists(id)")
    job_id = await jobs.enqueue("payments.charge", {"order": "o1"}, tx=tx, dedup_key="o1")
    assert bodies(jobs.queue) == []  # nothing is sent before the commit
    tx.commit()
    assert [b["id"] for b in bodies(jobs.queue)] == [job_id]

    cancelled = DynamoTx(aws)
    cancelled.put(orders, {"id": "o1"}, condition="attribute_not_exists(id)")  # exists: fails
    await jobs.enqueue("payments.charge", {"order": "o1 again"}, tx=cancelled, dedup_key="o1b")
    with pytest.raises(TransactionCancelledError):
        cancelled.commit()
    assert jobs.unsent() == 0 and jobs.relay() == 0
    assert "Item" not in aws.dynamodb.get_item(
        TableName=jobs.table, Key={"id": {"S": "dedup#payments.charge#o1b"}}
    )


async def test_the_relay_sends_a_stored_job_whose_send_failed(
    aws: AwsClients, jobs: SqsJobProducer
) -> None:
    missing = SqsQueue(aws, jobs.queue.url + "-gone")
    broken = SqsJobProducer(missing, jobs.table)
    with pytest.raises(Exception, match=r"NonExistentQueue|does not exist"):
        await broken.enqueue("payments.charge", {"order": "o9"}, dedup_key="o9")
    assert await jobs.enqueue("payments.charge", {"order": "o9"}, dedup_key="o9") is None
    assert jobs.unsent() == 1
    assert jobs.relay() == 1 and jobs.unsent() == 0
    assert [b["payload"] for b in bodies(jobs.queue)] == [{"order": "o9"}]


def test_the_worker_acks_retries_later_and_dead_letters_on_the_last_receive(
    jobs: SqsJobProducer,
) -> None:
    """The worker as Lambda runs it: a sync handler invoked by the event source mapping."""
    seen: list[tuple[str, int]] = []

    async def charge(job: Job) -> None:
        seen.append((job.payload["kind"], job.receives))
        if job.payload["kind"] == "later":
            raise RetryLater(0.0, "not settled yet")
        if job.payload["kind"] == "broken":
            raise ConnectionError("gateway unreachable")

    worker = SqsJobWorker(jobs.queue, backoff=Constant(0.0))
    worker.register("payments.charge", charge)
    with pytest.raises(ValueError, match="transactional=False"):
        worker.register("payments.refund", charge, transactional=True)
    for kind in ("ok", "later", "broken"):
        asyncio.run(jobs.enqueue("payments.charge", {"kind": kind}, max_receives=2))
    assert run(jobs.queue, worker, until_idle=True, timeout_s=5) == 5  # receives in all
    assert sorted(seen) == [("broken", 1), ("broken", 2), ("later", 1), ("later", 2), ("ok", 1)]
    stats = jobs.stats()
    assert (stats.ready, stats.in_flight, stats.dead) == (0, 0, 2)
    assert worker.dead_lettered == 2
    dead = [json.loads(m.body) for m in jobs.queue.peek_dead_letters()]
    assert sorted(d["error"] for d in dead) == [
        "ConnectionError: gateway unreachable",
        "not settled yet",
    ]


def test_the_worker_answers_a_lambda_event_with_its_failures(jobs: SqsJobProducer) -> None:
    worker = SqsJobWorker(jobs.queue)
    event = {"Records": [{"messageId": "m1", "receiptHandle": "", "body": "not json"}]}
    assert worker(event, FakeLambdaContext()) == {"batchItemFailures": []}  # dead-lettered
    assert worker.dead_lettered == 1
