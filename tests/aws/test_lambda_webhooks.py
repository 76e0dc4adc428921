"""The Lambda receiver and SQS worker against a real AWS API endpoint, with real event documents."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tests.aws.lambda_events import FakeLambdaContext, http_v2, rest_v1, sqs_event
from tests.webhooks.support import SECRET, event_body, guide_headers

from seawall.aws.clients import AwsClients
from seawall.aws.inbox import DynamoInbox
from seawall.aws.receiver import LambdaWebhookReceiver
from seawall.aws.resources import AwsNames, QueueUrls, ensure_resources
from seawall.aws.sqs import SqsQueue
from seawall.aws.transact import DynamoTx
from seawall.aws.worker import SqsWebhookWorker
from seawall.resilience import Constant, time_left
from seawall.webhooks import PermanentWebhookError, WebhookEvent
from seawall.webhooks.endpoint import guide_endpoint
from seawall.webhooks.router import Router
from seawall.webhooks.schemes.keys import Secret

PATH = "/webhooks/payment-provider"


class Deployment:
    """The receiver and worker of one test deployment, with its queue and inbox."""

    def __init__(self, aws: AwsClients, names: AwsNames, urls: QueueUrls, router: Router) -> None:
        self.aws = aws
        self.names = names
        self.urls = urls
        self.inbox = DynamoInbox(aws, names.inbox_table)
        self.queue = SqsQueue(aws, urls.queue, dead_letter_url=urls.dead_letter_queue)
        endpoint = guide_endpoint([Secret(SECRET, "literal")], path=PATH)
        self.receiver = LambdaWebhookReceiver([endpoint], self.inbox, self.queue)
        self.worker = SqsWebhookWorker(
            router, self.inbox, self.queue, max_receives=3, backoff=Constant(0.0)
        )

    def deliver(self, event_id: str, *, version: str = "v2", **data: Any) -> dict[str, Any]:
        body = event_body(event_id, **data)
        make = http_v2 if version == "v2" else rest_v1
        return self.receiver(make(PATH, body, guide_headers(body)), FakeLambdaContext())

    def run_worker(self) -> dict[str, Any]:
        """Receive what SQS has (as the event source mapping does) and invoke the worker."""
        messages = self.queue.receive(wait_s=0, visibility_timeout_s=0)
        if not messages:
            return {"batchItemFailures": [], "empty": True}
        answer = self.worker(sqs_event(messages, self.urls.queue_arn), FakeLambdaContext())
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        self.queue.delete_many([m.receipt for m in messages if m.id not in failed])
        return answer

    @staticmethod
    def sync(awaitable: Any) -> Any:
        """Run one of the inbox's async operator methods from a sync (Lambda-style) test."""
        return asyncio.run(awaitable)

    def effects(self) -> list[dict[str, Any]]:
        items = self.aws.dynamodb.scan(TableName=self.names.idempotency_table)["Items"]
        return sorted(items, key=lambda i: i["id"]["S"])


@pytest.fixture
def router() -> Router:
    return Router()


@pytest.fixture
def deployment(
    aws: AwsClients, names: AwsNames, resources: QueueUrls, router: Router
) -> Deployment:
    return Deployment(aws, names, resources, router)


def _effect_handler(deployment: Deployment) -> Any:
    async def record_payment(event: WebhookEvent[Any], tx: DynamoTx) -> None:
        tx.put(deployment.names.idempotency_table, {"id": f"charge:{event.id}", "amount": 100})

    return record_payment


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_delivery_is_stored_queued_and_processed_once(
    deployment: Deployment, router: Router, version: str
) -> None:
    router.on("payment.completed")(_effect_handler(deployment))
    first = deployment.deliver("evt_1", version=version)
    assert first["statusCode"] == 200 and json.loads(first["body"]) == {"received": True}
    assert (
        deployment.sync(deployment.inbox.get_event("payment-provider", "evt_1")).status
        == "received"
    )
    assert (
        deployment.aws.calls["dynamodb.PutItem"] == 1
        and deployment.aws.calls["sqs.SendMessage"] == 1
    )
    again = deployment.deliver("evt_1", version=version)  # the provider retries: a duplicate
    assert json.loads(again["body"]) == {"received": True, "duplicate": True}
    # Still `received`, so the duplicate queued a second message: two messages, one effect.
    assert deployment.run_worker()["batchItemFailures"] == []
    while not deployment.run_worker().get("empty"):
        pass
    assert [e["id"]["S"] for e in deployment.effects()] == ["charge:evt_1"]
    stored = deployment.sync(deployment.inbox.get_event("payment-provider", "evt_1"))
    assert stored.status == "processed" and stored.attempts == 1


def test_base64_bodies_are_verified_over_their_raw_bytes(deployment: Deployment) -> None:
    body = event_body("evt_b64", note="caf\u00e9 \u2603")
    answer = deployment.receiver(http_v2(PATH, body, guide_headers(body), b64=True))
    assert answer["statusCode"] == 200
    assert deployment.sync(deployment.inbox.get_event("payment-provider", "evt_b64")).body == body


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda e: e.update(body=e["body"].replace("100", "999")), 400, "bad_signature"),
        (lambda e: e["headers"].pop("x-signature"), 400, "missing_header"),
        (lambda e: e["requestContext"]["http"].update(method="GET"), 405, "method_not_allowed"),
        (lambda e: e.update(isBase64Encoded=True, body="%%%"), 400, "bad_event"),
        (lambda e: e["headers"].update(big="x" * 20_000), 431, "headers_too_large"),
        (lambda e: e.update(body="x" * 1_100_000), 413, "body_too_large"),
        (lambda e: e.update(rawPath="/elsewhere", pathParameters={}), 404, "not_found"),
    ],
)
def test_bad_requests_get_a_reason_and_store_nothing(
    deployment: Deployment, mutate: Any, status: int, reason: str
) -> None:
    body = event_body("evt_bad")
    event = http_v2(PATH, body, guide_headers(body))
    mutate(event)
    answer = deployment.receiver(event)
    assert answer["statusCode"] == status and json.loads(answer["body"])["reason"] == reason
    assert deployment.sync(deployment.inbox.counts_by_status()) == {}
    assert deployment.aws.calls["sqs.SendMessage"] == 0


def test_failures_retry_with_partial_batches_then_the_event_is_dead(
    deployment: Deployment, router: Router
) -> None:
    seen: list[str] = []

    @router.on("payment.completed")
    async def flaky(event: WebhookEvent[Any], tx: DynamoTx) -> None:
        seen.append(event.id)
        if event.id == "evt_bad":
            raise ConnectionError("gateway down")
        tx.put(deployment.names.idempotency_table, {"id": f"charge:{event.id}"})

    deployment.deliver("evt_ok")
    deployment.deliver("evt_bad")
    failures = []
    for _ in range(4):
        answer = deployment.run_worker()
        if answer.get("empty"):
            break
        failures.append({f["itemIdentifier"] for f in answer["batchItemFailures"]})
    assert failures[0] and len(failures) == 3  # one failure reported per try until the last
    assert failures[-1] == set()  # the third receive marks it dead and acknowledges it
    dead = deployment.sync(deployment.inbox.get_event("payment-provider", "evt_bad"))
    assert dead.status == "dead" and dead.last_error == "ConnectionError: gateway down"
    assert [e["id"]["S"] for e in deployment.effects()] == ["charge:evt_ok"]
    assert seen.count("evt_bad") == 3
    assert deployment.queue.stats().dead == 0  # the inbox is the dead-letter view


def test_permanent_errors_and_unhandled_types_are_final_at_once(
    deployment: Deployment, router: Router
) -> None:
    @router.on("payment.failed")
    async def refuse(event: WebhookEvent[Any], tx: DynamoTx) -> None:
        raise PermanentWebhookError("unknown order")

    deployment.deliver("evt_p", event_type="payment.failed")
    deployment.deliver("evt_u", event_type="refund.created")
    assert deployment.run_worker()["batchItemFailures"] == []
    assert (
        deployment.sync(deployment.inbox.get_event("payment-provider", "evt_p")).status == "failed"
    )
    assert (
        deployment.sync(deployment.inbox.get_event("payment-provider", "evt_u")).status
        == "unhandled"
    )


def test_outbound_deadline_is_the_remaining_lambda_time_minus_the_margin(
    deployment: Deployment, router: Router
) -> None:
    left: list[float | None] = []

    @router.on("payment.completed")
    async def look(event: WebhookEvent[Any], tx: DynamoTx) -> None:
        left.append(time_left())

    deployment.deliver("evt_t")
    messages = deployment.queue.receive(wait_s=0)
    deployment.worker(sqs_event(messages, deployment.urls.queue_arn), FakeLambdaContext(12_000))
    assert left and left[0] is not None and 6.0 < left[0] <= 7.0


def test_fifo_stops_a_group_at_its_first_failure(aws: AwsClients, router: Router) -> None:
    names = AwsNames("fifo-w1", fifo=True)
    urls = ensure_resources(aws, names)
    deployment = Deployment(aws, names, urls, router)
    order: list[str] = []

    @router.on("payment.completed")
    async def ordered(event: WebhookEvent[Any], tx: DynamoTx) -> None:
        order.append(event.id)
        if event.id == "evt_2":
            raise ConnectionError("not yet")

    for n in (1, 2, 3):
        deployment.deliver(f"evt_{n}")
    messages = deployment.queue.receive(wait_s=0)
    answer = deployment.worker(sqs_event(messages, urls.queue_arn), FakeLambdaContext())
    failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    assert order == ["evt_1", "evt_2"]  # evt_3 never ran after evt_2 failed
    assert failed == [messages[1].id, messages[2].id]
