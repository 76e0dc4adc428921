"""The AWS resources of one deployment: their names, and creating them (tests, the demo).

A deployment is named by a prefix, e.g. `dev-myapp`: queue `dev-myapp-webhooks` with its
dead-letter queue `dev-myapp-webhooks-dlq` (`.fifo` appended for FIFO), tables
`dev-myapp-inbox`, `dev-myapp-idempotency` and `dev-myapp-fleet` (the fleet's shared breakers),
topic `dev-myapp-command-status`. In production the SAM template (`template.yaml`) or
`serverless.yml` creates them; `ensure_resources` makes the same ones through the API, for tests
and `seawall demo --store aws`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from seawall.aws.clients import AwsClients

__all__ = ["AwsNames", "QueueUrls", "create_queues", "create_table", "ensure_resources"]

_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,60}$")


@dataclass(frozen=True, slots=True)
class AwsNames:
    """The resource names of one deployment (see the module docstring)."""

    prefix: str
    fifo: bool = False

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(
                f"AWS resource prefix must be 1-60 letters, digits, '-' or '_', got {self.prefix!r}"
            )

    @property
    def queue(self) -> str:
        """The webhook processing queue."""
        return f"{self.prefix}-webhooks" + (".fifo" if self.fifo else "")

    @property
    def dead_letter_queue(self) -> str:
        """Where SQS moves a message after `maxReceiveCount` receives."""
        return f"{self.prefix}-webhooks-dlq" + (".fifo" if self.fifo else "")

    @property
    def inbox_table(self) -> str:
        """Verified webhooks, keyed by (source, event_id)."""
        return f"{self.prefix}-inbox"

    @property
    def idempotency_table(self) -> str:
        """Idempotency records, keyed by id."""
        return f"{self.prefix}-idempotency"

    @property
    def fleet_table(self) -> str:
        """The fleet's shared circuit breakers (`seawall.fleet.DynamoBreakerStore`), keyed by pk."""
        return f"{self.prefix}-fleet"

    @property
    def topic(self) -> str:
        """CommandService status notifications (`command-status`)."""
        return f"{self.prefix}-command-status"


@dataclass(frozen=True, slots=True)
class QueueUrls:
    """The URLs and ARNs of the queue and its dead-letter queue."""

    queue: str
    dead_letter_queue: str
    queue_arn: str
    dead_letter_arn: str


def create_table(clients: AwsClients, name: str, keys: list[tuple[str, str]]) -> None:
    """Create table `name` (keys: (name, type) for HASH then RANGE; PAY_PER_REQUEST; TTL on
    attribute `ttl`) unless it exists."""
    db = clients.dynamodb
    try:
        db.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": key, "KeyType": kind}
                for key, kind in zip((k for k, _ in keys), ("HASH", "RANGE"), strict=False)
            ],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": t} for k, t in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    except db.exceptions.ResourceInUseException:
        return
    db.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05})
    db.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


def _queue(clients: AwsClients, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    sqs = clients.sqs
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return str(url), str(arn)


def create_queues(
    clients: AwsClients,
    name: str,
    dead_letter_name: str,
    *,
    fifo: bool = False,
    max_receives: int = 3,
    visibility_timeout_s: int = 60,
) -> QueueUrls:
    """Create queue `name` and its dead-letter queue (kept 14 days; a message moves there after
    `max_receives` receives) when missing; return their URLs and ARNs."""
    attributes: dict[str, str] = {"FifoQueue": "true"} if fifo else {}
    dlq_url, dlq_arn = _queue(
        clients, dead_letter_name, {**attributes, "MessageRetentionPeriod": "1209600"}
    )
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})
    url, arn = _queue(
        clients,
        name,
        {**attributes, "VisibilityTimeout": str(visibility_timeout_s), "RedrivePolicy": redrive},
    )
    return QueueUrls(url, dlq_url, arn, dlq_arn)


def ensure_resources(
    clients: AwsClients,
    names: AwsNames,
    *,
    max_receives: int = 3,
    visibility_timeout_s: int = 60,
) -> QueueUrls:
    """Create the deployment's queues, tables and topic when missing (the guide's settings:
    VisibilityTimeout 60, maxReceiveCount 3); return the queue URLs."""
    urls = create_queues(
        clients,
        names.queue,
        names.dead_letter_queue,
        fifo=names.fifo,
        max_receives=max_receives,
        visibility_timeout_s=visibility_timeout_s,
    )
    create_table(clients, names.inbox_table, [("source", "S"), ("event_id", "S")])
    create_table(clients, names.idempotency_table, [("id", "S")])
    create_table(clients, names.fleet_table, [("pk", "S")])
    clients.sns.create_topic(Name=names.topic)
    return urls
