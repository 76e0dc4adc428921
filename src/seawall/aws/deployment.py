"""One AWS deployment as its environment names it: prefix, queue URLs, receive limit, clients.

The Lambda entry points (`seawall.aws.entry`) and the operator's `--store aws` read the same
variables here, so a laptop with the deployment's settings sees what the functions use:

- `SEAWALL_AWS_PREFIX` (required): the resource prefix (`seawall.aws.resources.AwsNames`);
- `SEAWALL_AWS_FIFO`: `true` when the queue is FIFO;
- `SEAWALL_MAX_RECEIVES`: the queue's maxReceiveCount (default 3);
- `SEAWALL_QUEUE_URL`, `SEAWALL_DLQ_URL`: the queue URLs (looked up by name when unset);
- AWS's own `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` and credentials.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from seawall.aws.clients import AwsClients
from seawall.aws.inbox import DynamoInbox
from seawall.aws.resources import AwsNames
from seawall.aws.sqs import SqsQueue
from seawall.aws.sqs_jobs import SqsJobQueue
from seawall.config import ConfigError
from seawall.webhooks.job_payload import event_job_text

__all__ = ["Deployment", "env_int"]


def env_int(name: str, default: int) -> int:
    """A whole-number environment variable; ConfigError when it is not one."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(name, [f"{name} must be a whole number, got {raw!r}"]) from None


@dataclass(frozen=True)
class Deployment:
    """The deployment's clients, names, webhook queue and receive limit."""

    clients: AwsClients
    names: AwsNames
    queue: SqsQueue
    max_receives: int

    @classmethod
    def from_environment(cls, clients: AwsClients | None = None) -> Deployment:
        """Read the variables of the module docstring; look the queue URLs up when unset."""
        prefix = os.environ.get("SEAWALL_AWS_PREFIX")
        if not prefix:
            raise ConfigError(
                "SEAWALL_AWS_PREFIX", ["set SEAWALL_AWS_PREFIX to the deployment's resource prefix"]
            )
        try:
            names = AwsNames(prefix, fifo=os.environ.get("SEAWALL_AWS_FIFO", "").lower() == "true")
        except ValueError as exc:
            raise ConfigError("SEAWALL_AWS_PREFIX", [str(exc)]) from None
        the_clients = (
            clients
            if clients is not None
            else AwsClients(endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
        )
        sqs = the_clients.sqs
        queue_url = (
            os.environ.get("SEAWALL_QUEUE_URL")
            or sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
        )
        dlq_url = (
            os.environ.get("SEAWALL_DLQ_URL")
            or sqs.get_queue_url(QueueName=names.dead_letter_queue)["QueueUrl"]
        )
        return cls(
            clients=the_clients,
            names=names,
            queue=SqsQueue(the_clients, queue_url, dead_letter_url=dlq_url, fifo=names.fifo),
            max_receives=env_int("SEAWALL_MAX_RECEIVES", 3),
        )

    def inbox(self, *, retention_s: float | None = None) -> DynamoInbox:
        """The webhook inbox table."""
        return DynamoInbox(self.clients, self.names.inbox_table, retention_s=retention_s)

    def jobs(self) -> SqsJobQueue:
        """The webhook queue as a `JobQueue` (its queue name is the SQS queue's name)."""
        return SqsJobQueue(self.queue, self.names.queue, max_receives=self.max_receives)

    async def replay(self, source: str, event_id: str) -> str:
        """Put a stored event back to `received` and queue its processing; the message id.

        The mark goes first: a failed send leaves the event `received`, and replaying again
        (or a redelivery of the webhook) sends it.
        """
        await self.inbox().reset_for_replay(source, event_id)
        return await self._send(source, event_id)

    async def _send(self, source: str, event_id: str) -> str:
        body = event_job_text(source, event_id)
        return await asyncio.to_thread(self.queue.send, body, group_id=source)
