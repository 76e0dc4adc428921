"""`SqsJobQueue` against a real SQS API endpoint: what it adds to the queue contract (jobs as
JSON, whole seconds, one queue name, the whole dead-letter queue redriven)."""

from __future__ import annotations

import pytest

from seawall.aws.clients import AwsClients
from seawall.aws.resources import QueueUrls
from seawall.aws.sqs import SqsQueue
from seawall.aws.sqs_jobs import SqsJobQueue
from seawall.jobs import InvalidJobError


def _jobs(aws: AwsClients, resources: QueueUrls) -> SqsJobQueue:
    queue = SqsQueue(aws, resources.queue, dead_letter_url=resources.dead_letter_queue)
    return SqsJobQueue(queue, "orders", max_receives=3)


async def test_a_claimed_job_carries_its_payload_receipt_and_receive_count(
    aws: AwsClients, resources: QueueUrls
) -> None:
    jobs = _jobs(aws, resources)
    [job_id] = await jobs.enqueue_many("orders", [{"order": 7}])
    [job] = await jobs.claim("orders", limit=10, visibility_timeout=0.2)
    assert (job.id, job.queue, job.payload, job.receives, job.max_receives) == (
        job_id,
        "orders",
        {"order": 7},
        1,
        3,
    )
    assert job.lease_token and job.enqueued_at > 0
    assert aws.calls["sqs.ReceiveMessage"] == 1
    assert await jobs.ack(job)
    assert (await jobs.stats())[0].in_flight == 0


async def test_another_queue_name_ids_to_redrive_and_a_negative_delay_are_refused(
    aws: AwsClients, resources: QueueUrls
) -> None:
    jobs = _jobs(aws, resources)
    with pytest.raises(InvalidJobError, match="serves 'orders'"):
        await jobs.enqueue("payments", {"n": 1})
    with pytest.raises(InvalidJobError, match="whole dead-letter queue"):
        await jobs.redrive(ids=["some-id"])
    with pytest.raises(InvalidJobError, match=">= 0"):
        await jobs.enqueue("orders", {"n": 1}, delay=-1)
    assert aws.calls["sqs.SendMessageBatch"] == 0


async def test_a_lease_given_back_after_the_ack_is_reported_lost(
    aws: AwsClients, resources: QueueUrls
) -> None:
    jobs = _jobs(aws, resources)
    await jobs.enqueue("orders", {"n": 2})
    [job] = await jobs.claim("orders")
    assert await jobs.extend(job, 30)
    assert await jobs.ack(job)
    assert not await jobs.nack(job)
    assert not await jobs.extend(job, 30)
