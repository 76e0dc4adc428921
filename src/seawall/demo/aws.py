"""`seawall demo --store aws`: the webhook half of the payment demo on AWS, against moto's server.

It starts a local AWS endpoint (moto in server mode, `pip install 'moto[server]'`), creates the
deployment's queue, dead-letter queue and tables as `ensure_resources` does, and then plays the
provider and Lambda's event source mapping: payment webhooks go to the Lambda receiver as HTTP
API events (some delivered twice or three times, some forged, some stale), SQS batches go to the
Lambda worker, and the handlers record each payment in a ledger table inside the same
TransactWriteItems as the inbox mark. The handler fails a share of first tries (transient), and
one event type always fails (poison). At the end the invariants are checked against what DynamoDB
and SQS hold, and the AWS API calls per webhook and per job are reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from seawall.aws.clients import AwsClients
from seawall.aws.inbox import DynamoInbox
from seawall.aws.local import local_aws
from seawall.aws.receiver import LambdaWebhookReceiver
from seawall.aws.resources import AwsNames, ensure_resources
from seawall.aws.sqs import SqsQueue, lambda_sqs_event
from seawall.aws.worker import SqsWebhookWorker
from seawall.resilience import Constant
from seawall.secrets import Secret
from seawall.webhooks.endpoint import guide_endpoint
from seawall.webhooks.events import WebhookEvent
from seawall.webhooks.router import Router
from seawall.webhooks.schemes import get_scheme

__all__ = ["AwsDemoOptions", "run_aws_demo"]

_SECRET = "whsec-demo-aws"
_PATH = "/webhooks/payment-provider"
_POISON = "payment.poison"
_MAX_RECEIVES = 3


@dataclass(frozen=True)
class AwsDemoOptions:
    """How many payments, and how hostile the provider and the handler are."""

    payments: int = 200
    seed: int = 7
    duplicate_rate: float = 0.1
    forged_rate: float = 0.05
    stale_rate: float = 0.05
    transient_rate: float = 0.2
    poison: int = 3


@dataclass
class _Tally:
    acknowledged: set[str] = field(default_factory=set)
    refused: int = 0
    hostile_accepted: int = 0
    """Forged or stale deliveries answered 2xx (must stay 0)."""
    deliveries: int = 0
    tries: dict[str, int] = field(default_factory=dict)


def _http_event(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": _PATH,
        "headers": headers,
        "requestContext": {
            "http": {"method": "POST", "path": _PATH, "sourceIp": "192.0.2.1"},
            "requestId": uuid.uuid4().hex,
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def _sqs_event(queue: SqsQueue, arn: str) -> tuple[dict[str, Any], list[Any]]:
    messages = queue.receive(wait_s=0, visibility_timeout_s=30)
    return lambda_sqs_event(messages, arn), messages


def run_aws_demo(options: AwsDemoOptions, console: Console | None = None) -> dict[str, Any]:
    """Run the demo on a local AWS endpoint; return its report (with `ok` and `invariants`)."""
    console = console or Console()
    quiet = logging.getLogger("seawall")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # refusals and retried tries are the point here, not news
    with contextlib.ExitStack() as stack:
        stack.callback(quiet.setLevel, level)
        endpoint = stack.enter_context(local_aws())
        clients = AwsClients(region="us-east-1", endpoint_url=endpoint)
        console.print(f"[bold]local AWS endpoint[/] {endpoint} (moto server)")
        return _run(options, clients, console)


def _run(options: AwsDemoOptions, clients: AwsClients, console: Console) -> dict[str, Any]:
    rng = random.Random(options.seed)
    names = AwsNames(f"demo-{uuid.uuid4().hex[:6]}")
    urls = ensure_resources(clients, names, max_receives=_MAX_RECEIVES)
    ledger = f"{names.prefix}-ledger"
    clients.dynamodb.create_table(
        TableName=ledger,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    clients.calls.clear()
    inbox = DynamoInbox(clients, names.inbox_table)
    queue = SqsQueue(clients, urls.queue, dead_letter_url=urls.dead_letter_queue)
    tally = _Tally()
    router = Router()

    @router.on("payment.*")
    async def record_payment(event: WebhookEvent[Any], tx: Any) -> None:
        tally.tries[event.id] = tally.tries.get(event.id, 0) + 1
        if event.type == _POISON:
            raise RuntimeError("the ledger refuses this payment (poison)")
        if event.attempt == 1 and rng.random() < options.transient_rate:
            raise ConnectionError("ledger briefly unreachable")
        data = event.payload.get("data", {}) if isinstance(event.payload, dict) else {}
        tx.put(
            ledger,
            {"id": event.id, "order": data.get("order"), "amount": data.get("amount")},
            condition="attribute_not_exists(id)",
        )

    receiver = LambdaWebhookReceiver(
        [guide_endpoint([Secret(_SECRET, "literal")], path=_PATH)], inbox, queue
    )
    worker = SqsWebhookWorker(
        router, inbox, queue, max_receives=_MAX_RECEIVES, backoff=Constant(0.0)
    )
    scheme = get_scheme("hmac-timestamp")
    started = time.perf_counter()
    calls_before_work = _deliver(options, rng, scheme, receiver, tally)
    receive_calls = clients.total_calls()
    jobs = _work(queue, urls.queue_arn, worker)
    elapsed = time.perf_counter() - started
    report = _check(options, clients, inbox, queue, ledger, tally, jobs)
    report["elapsed_s"] = round(elapsed, 2)
    report["aws_calls"] = dict(clients.calls)
    acknowledged = max(1, len(tally.acknowledged))
    report["aws_calls_per_webhook"] = round(calls_before_work / acknowledged, 2)
    report["aws_calls_per_job"] = round((clients.total_calls() - receive_calls) / max(1, jobs), 2)
    _print(report, console)
    return report


def _deliver(
    options: AwsDemoOptions,
    rng: random.Random,
    scheme: Any,
    receiver: LambdaWebhookReceiver,
    tally: _Tally,
) -> int:
    """Send every payment's webhook (with duplicates, forgeries, stale ones); return API calls."""
    for n in range(options.payments + options.poison):
        event_id = f"evt_{n:05d}"
        kind = _POISON if n >= options.payments else "payment.completed"
        body = json.dumps(
            {"id": event_id, "event": kind, "data": {"order": f"ord_{n}", "amount": 100 + n}},
            separators=(",", ":"),
        ).encode()
        copies = (
            1 + (rng.random() < options.duplicate_rate) + (rng.random() < options.duplicate_rate)
        )
        for _ in range(copies):
            forged = rng.random() < options.forged_rate
            stale = not forged and rng.random() < options.stale_rate
            secret = "not-the-secret" if forged else _SECRET
            when = time.time() - (3600 if stale else 0)
            headers = {
                **scheme.sign(body, secret, timestamp=when),
                "content-type": "application/json",
            }
            tally.deliveries += 1
            answer = receiver(_http_event(body, headers))
            if answer["statusCode"] == 200:
                tally.acknowledged.add(event_id)
                tally.hostile_accepted += forged or stale
            else:
                tally.refused += 1
        if event_id not in tally.acknowledged:  # the provider retries until it gets a 2xx
            headers = {**scheme.sign(body, _SECRET), "content-type": "application/json"}
            tally.deliveries += 1
            if receiver(_http_event(body, headers))["statusCode"] == 200:
                tally.acknowledged.add(event_id)
    return receiver.inbox.clients.total_calls()


def _work(queue: SqsQueue, arn: str, worker: SqsWebhookWorker) -> int:
    """Play Lambda's event source mapping until the queue is empty; return messages handled."""
    handled = 0
    for _ in range(10_000):
        event, messages = _sqs_event(queue, arn)
        if not messages:
            return handled
        answer = worker(event, None)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        queue.delete_many([m.receipt for m in messages if m.id not in failed])
        handled += len(messages)
    return handled


def _check(
    options: AwsDemoOptions,
    clients: AwsClients,
    inbox: DynamoInbox,
    queue: SqsQueue,
    ledger: str,
    tally: _Tally,
    jobs: int,
) -> dict[str, Any]:
    stored = asyncio.run(inbox.list_events(limit=1_000_000))
    by_id = {e.event_id: e for e in stored}
    entries = clients.dynamodb.scan(TableName=ledger)
    ledger_ids = [i["id"]["S"] for i in entries.get("Items", [])]
    while entries.get("LastEvaluatedKey"):
        entries = clients.dynamodb.scan(
            TableName=ledger, ExclusiveStartKey=entries["LastEvaluatedKey"]
        )
        ledger_ids += [i["id"]["S"] for i in entries.get("Items", [])]
    poison = {f"evt_{n:05d}" for n in range(options.payments, options.payments + options.poison)}
    processed = {i for i, e in by_id.items() if e.status == "processed"}
    stats = queue.stats()
    invariants = {
        "every acknowledged webhook is stored once": set(by_id) == tally.acknowledged
        and len(stored) == len(by_id),
        "every forged or stale delivery was refused": tally.hostile_accepted == 0,
        "every payment is processed": processed == tally.acknowledged - poison,
        "one ledger entry per processed event, none twice": sorted(ledger_ids) == sorted(processed),
        "poison events are dead, none before max receives tries": all(
            by_id[i].status == "dead" and tally.tries.get(i, 0) >= _MAX_RECEIVES for i in poison
        ),
        "the queue is drained and no message is dead-lettered": stats.ready == 0
        and stats.in_flight == 0
        and stats.dead == 0,
    }
    return {
        "ok": all(invariants.values()),
        "invariants": invariants,
        "payments": options.payments,
        "deliveries": tally.deliveries,
        "refused": tally.refused,
        "stored": len(stored),
        "processed": len(processed),
        "dead": sum(1 for e in stored if e.status == "dead"),
        "jobs": jobs,
        "ledger_entries": len(ledger_ids),
    }


def _print(report: dict[str, Any], console: Console) -> None:
    facts = Table(title="seawall on AWS (local endpoint)", show_header=False)
    for key in (
        "payments",
        "deliveries",
        "refused",
        "stored",
        "processed",
        "dead",
        "jobs",
        "ledger_entries",
        "aws_calls_per_webhook",
        "aws_calls_per_job",
        "elapsed_s",
    ):
        facts.add_row(key.replace("_", " "), str(report[key]))
    console.print(facts)
    checks = Table(title="Invariants", show_header=False)
    for name, held in report["invariants"].items():
        checks.add_row("[green]held[/]" if held else "[red]BROKEN[/]", name)
    console.print(checks)
