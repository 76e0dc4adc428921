"""The demo's seawall side on AWS: the same payment service wired to DynamoDB, SQS and Lambda
handlers instead of a SQL store.

`build_aws_runtime` creates a fresh deployment's resources on the local endpoint (webhook queue,
inbox, job queue with its dead-letter queue and outbox table, command tables, an orders table)
and wires `PaymentGatewayService` to `DynamoCommandService` and `SqsJobProducer`; the payment
webhook handlers go to the Lambda worker's router, the charge and refund handlers to
`SqsJobWorker`. Nothing here branches on the backend: the service takes the interfaces.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from seawall.aws.clients import AwsClients
from seawall.aws.commands import DynamoCommandService
from seawall.aws.inbox import DynamoInbox
from seawall.aws.job_worker import SqsJobWorker
from seawall.aws.jobs import SqsJobProducer
from seawall.aws.receiver import LambdaWebhookReceiver
from seawall.aws.resources import AwsNames, create_queues, create_table, ensure_resources
from seawall.aws.sqs import SqsQueue
from seawall.aws.worker import SqsWebhookWorker
from seawall.demo.runtime import DemoSettings, close_gateway, open_gateway
from seawall.http import ApiClient
from seawall.jobs.backoff import job_backoff
from seawall.payments import PaymentGatewayService, register_payment_webhooks
from seawall.webhooks import Router, guide_endpoint

__all__ = ["AwsDemoRuntime", "build_aws_runtime"]


@dataclass(slots=True)
class AwsDemoRuntime:
    """The payment service and the Lambda handlers of one demo deployment."""

    clients: AwsClients
    names: AwsNames
    orders_table: str
    inbox: DynamoInbox
    webhook_queue: SqsQueue
    job_queue: SqsJobProducer
    commands: DynamoCommandService
    service: PaymentGatewayService
    receiver: LambdaWebhookReceiver
    webhook_worker: SqsWebhookWorker
    job_worker: SqsJobWorker
    client: ApiClient

    async def aclose(self) -> None:
        """Close the payment service and its gateway client, and forget its breaker."""
        await close_gateway(self.service, self.client)


async def build_aws_runtime(
    clients: AwsClients,
    settings: DemoSettings,
    *,
    gateway_url: str,
    gateway_key: str,
    webhook_secret: str,
) -> AwsDemoRuntime:
    """Create the deployment's resources on `clients`' endpoint and wire the demo to them."""
    names = AwsNames(f"demo-{uuid.uuid4().hex[:6]}")
    visibility = math.ceil(settings.visibility_timeout_s)
    # The redrive policy is the net for crashed invocations: above the handlers' own limit.
    redrive = settings.max_receives + 3
    hooks = ensure_resources(clients, names, max_receives=redrive, visibility_timeout_s=visibility)
    jobs = create_queues(
        clients,
        f"{names.prefix}-jobs",
        f"{names.prefix}-jobs-dlq",
        max_receives=redrive,
        visibility_timeout_s=visibility,
    )
    create_table(clients, f"{names.prefix}-jobs", [("id", "S")])
    orders_table = f"{names.prefix}-orders"
    create_table(clients, orders_table, [("id", "S")])
    commands = DynamoCommandService(
        clients, module="payments", env="demo", app=names.prefix, source="seawall demo"
    )
    await commands.create_tables()
    inbox = DynamoInbox(clients, names.inbox_table)
    webhook_queue = SqsQueue(clients, hooks.queue, dead_letter_url=hooks.dead_letter_queue)
    job_queue = SqsJobProducer(
        SqsQueue(clients, jobs.queue, dead_letter_url=jobs.dead_letter_queue),
        f"{names.prefix}-jobs",
        default_max_receives=settings.max_receives,
    )
    client, service = open_gateway(
        settings, commands, job_queue, gateway_url=gateway_url, gateway_key=gateway_key
    )
    router = Router()
    register_payment_webhooks(router, service)
    backoff = job_backoff(settings.job_retry_delay_s, settings.job_retry_cap_s)
    job_worker = SqsJobWorker(job_queue.queue, backoff=backoff)
    service.register(job_worker)
    return AwsDemoRuntime(
        clients=clients,
        names=names,
        orders_table=orders_table,
        inbox=inbox,
        webhook_queue=webhook_queue,
        job_queue=job_queue,
        commands=commands,
        service=service,
        receiver=LambdaWebhookReceiver([guide_endpoint([webhook_secret])], inbox, webhook_queue),
        webhook_worker=SqsWebhookWorker(
            router, inbox, webhook_queue, max_receives=settings.max_receives, backoff=backoff
        ),
        job_worker=job_worker,
        client=client,
    )
