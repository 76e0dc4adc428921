"""A seeded AWS deployment on the moto server, named by the environment as on an operator's
laptop (SEAWALL_AWS_PREFIX, AWS_ENDPOINT_URL): for the CLI and dashboard tests of `--store aws`."""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass

import pytest

from seawall.aws.clients import AwsClients
from seawall.aws.inbox import DynamoInbox
from seawall.aws.resources import AwsNames, QueueUrls, ensure_resources
from seawall.webhooks.inbox import InboxEntry
from seawall.webhooks.job_payload import event_job_text

_numbers = itertools.count(1)

EVENTS = {
    # event id: (source, status, received_at)
    "evt_received": ("stripe", "received", 1000.0),
    "evt_done": ("stripe", "processed", 1001.0),
    "evt_dead": ("stripe", "dead", 1002.0),
    "gh_1": ("github", "received", 1003.0),
}


@dataclass
class Deployed:
    """The deployment's clients, names, queue URLs and the ids of its dead-letter messages."""

    clients: AwsClients
    names: AwsNames
    urls: QueueUrls
    dead_ids: list[str]

    @property
    def inbox(self) -> DynamoInbox:
        """The inbox table."""
        return DynamoInbox(self.clients, self.names.inbox_table)

    def count(self, url: str) -> int:
        """Messages visible in the queue at `url`."""
        answer = self.clients.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(answer["Attributes"]["ApproximateNumberOfMessages"])

    def bodies(self, url: str) -> list[dict[str, str]]:
        """The bodies of the visible messages at `url` (left there)."""
        answer = self.clients.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def deploy(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    """Received, processed and dead events in the inbox, two messages in the dead-letter queue,
    and the environment pointing at it all."""
    clients = AwsClients(region="us-east-1", endpoint_url=endpoint)
    names = AwsNames(f"ops{os.getpid()}-{next(_numbers)}")
    urls = ensure_resources(clients, names, max_receives=3, visibility_timeout_s=60)
    inbox = DynamoInbox(clients, names.inbox_table)
    for event_id, (source, status, received_at) in EVENTS.items():
        body = json.dumps({"id": event_id, "amount": 42}).encode()
        entry = InboxEntry(source, event_id, "payment.completed", body, '{"x-a":"1"}', received_at)
        assert inbox.insert(entry)
        if status != "received":
            inbox.mark(
                source,
                event_id,
                status=status,
                attempts=3 if status == "dead" else 1,
                error="handler failed: boom" if status == "dead" else None,
                processed_at=received_at + 5,
                job_id=f"job-{event_id}",
            )
    dead_ids = [
        clients.sqs.send_message(
            QueueUrl=urls.dead_letter_queue, MessageBody=event_job_text("stripe", f"lost_{i}")
        )["MessageId"]
        for i in range(2)
    ]
    monkeypatch.setenv("SEAWALL_AWS_PREFIX", names.prefix)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("SEAWALL_QUEUE_URL", "SEAWALL_DLQ_URL", "SEAWALL_AWS_FIFO", "SEAWALL_OPS_STORE"):
        monkeypatch.delenv(name, raising=False)
    return Deployed(clients, names, urls, dead_ids)
