"""The webhook pipeline on AWS: seawall's Lambda receiver and SQS worker vs Powertools' utilities.

Run: `PYTHONPATH=src .venv/bin/python benchmarks/aws_webhooks.py` (options: --webhooks, --rounds).

One moto server (`seawall.aws.local.local_aws()`) on 127.0.0.1 serves both sides, each with its
own queue and tables. The same signed webhooks (HTTP API v2 events) go to each side's receiver,
then each side's worker is invoked with SQS batches of 10 (as Lambda's event source mapping
would) until its queue is empty. The handler records one ledger item per event.

- seawall: `LambdaWebhookReceiver` (verify, conditional PutItem into the inbox, SendMessage) and
  `SqsWebhookWorker` (GetItem, then the ledger item and the inbox mark in one TransactWriteItems).
- Powertools, written as its documentation shows: the receiver verifies the same signature
  (Powertools has no webhook verification; seawall's scheme is used, so both do the same
  work) and sends the message inside `@idempotent_function` keyed by the event id, so a
  duplicate delivery is not queued twice; the worker is `BatchProcessor(EventType.SQS)` with
  `process_partial_response`, each record handled inside `@idempotent_function` keyed by the
  event id, writing the ledger item with PutItem. Its idempotency record and the ledger item
  are two writes, not one transaction: a crash between them re-runs the handler.

Reported per side: the median over rounds of milliseconds per webhook (receive) and per job
(work), the AWS API calls per webhook and per job (counted by a botocore `before-call` hook), the
client's own CPU milliseconds per webhook and per job (this process's CPU time: moto runs in a
child process), and the ratios Powertools / seawall. The wall figures are mostly moto's own
work, and moto's TransactWriteItems copies the tables it touches (to roll back), so it costs more
than its PutItem and grows with the tables (3.8 ms on an empty table, 10.3 ms at 600 items,
against a flat 3.5 ms for PutItem, measured here); the call counts are what a deployment pays
for, and the CPU figures are what the library itself costs.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0].rstrip("/").endswith("benchmarks"):
    del sys.path[0]

import argparse
import json
import statistics
import time
import uuid
from typing import Any

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
from seawall.webhooks.router import Router
from seawall.webhooks.schemes import get_scheme

SECRET = "whsec-bench"
PATH = "/webhooks/payment-provider"
SCHEME = get_scheme("hmac-timestamp")


class Context:
    """A Lambda context with 30 s left."""

    function_name = "bench"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_event(event_id: str) -> dict[str, Any]:
    body = json.dumps(
        {"id": event_id, "event": "payment.completed", "data": {"amount": 100}},
        separators=(",", ":"),
    ).encode()
    headers = {**SCHEME.sign(body, SECRET), "content-type": "application/json"}
    return {
        "version": "2.0",
        "rawPath": PATH,
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": PATH}, "requestId": event_id},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def table(clients: AwsClients, name: str) -> str:
    clients.dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def drain(queue: SqsQueue, arn: str, worker: Any) -> int:
    """Invoke `worker` with batches of up to 10 until the queue is empty; return jobs done."""
    done = 0
    while True:
        messages = queue.receive(wait_s=0, visibility_timeout_s=30)
        if not messages:
            return done
        event = lambda_sqs_event(messages, arn)
        answer = worker(event, Context())
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        queue.delete_many([m.receipt for m in messages if m.id not in failed])
        done += len(messages) - len(failed)


class Side:
    """One side's receiver and worker, with its own clients (and call counter)."""

    def __init__(self, endpoint: str, name: str) -> None:
        self.clients = AwsClients(region="us-east-1", endpoint_url=endpoint)
        self.names = AwsNames(f"bench-{name}-{uuid.uuid4().hex[:6]}")
        self.urls = ensure_resources(self.clients, self.names)
        self.ledger = table(self.clients, f"{self.names.prefix}-ledger")
        self.queue = SqsQueue(self.clients, self.urls.queue)

    def receive(self, event: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def worker(self) -> Any:
        raise NotImplementedError


class Seawall(Side):
    """seawall's Lambda receiver and SQS worker."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint, "seawall")
        inbox = DynamoInbox(self.clients, self.names.inbox_table)
        router = Router()
        ledger = self.ledger

        @router.on("payment.completed")
        async def record(event: Any, tx: Any) -> None:
            tx.put(ledger, {"id": event.id, "amount": 100})

        self._receiver = LambdaWebhookReceiver(
            [guide_endpoint([Secret(SECRET, "literal")], path=PATH)], inbox, self.queue
        )
        self._worker = SqsWebhookWorker(router, inbox, self.queue, backoff=Constant(0.0))

    def receive(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._receiver(event, Context())

    def worker(self) -> Any:
        return self._worker


class Powertools(Side):
    """The same pipeline written with Powertools' idempotency and batch utilities."""

    def __init__(self, endpoint: str) -> None:
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            process_partial_response,
        )
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        super().__init__(endpoint, "powertools")
        records = table(self.clients, f"{self.names.prefix}-powertools")
        dynamodb = self.clients.dynamodb
        persistence = DynamoDBPersistenceLayer(table_name=records, boto3_client=dynamodb)
        config = IdempotencyConfig(event_key_jmespath="id", raise_on_no_idempotency_key=True)
        queue, ledger, endpoint_cfg = self.queue, self.ledger, guide_endpoint([SECRET], path=PATH)

        @idempotent_function(
            data_keyword_argument="event", persistence_store=persistence, config=config
        )
        def enqueue(event: dict[str, Any]) -> dict[str, Any]:
            queue.send(json.dumps({"source": "payment-provider", "event_id": event["id"]}))
            return {"queued": True}

        def receive(event: dict[str, Any], context: Any) -> dict[str, Any]:
            body = event["body"].encode()
            headers = {k.lower(): v for k, v in event["headers"].items()}
            endpoint_cfg.scheme.verify(
                body, headers, endpoint_cfg.secrets, now=time.time(), tolerance_s=300
            )
            config.register_lambda_context(context)
            enqueue(event=json.loads(body))
            return {"statusCode": 200, "body": '{"received":true}'}

        @idempotent_function(
            data_keyword_argument="job", persistence_store=persistence, config=config
        )
        def record_job(job: dict[str, Any]) -> dict[str, Any]:
            dynamodb.put_item(
                TableName=ledger, Item={"id": {"S": job["id"]}, "amount": {"N": "100"}}
            )
            return {"recorded": True}

        processor = BatchProcessor(event_type=EventType.SQS)

        def record_handler(record: Any) -> None:
            payload = json.loads(record.body)
            record_job(job={"id": payload["event_id"]})

        def work(event: dict[str, Any], context: Any) -> dict[str, Any]:
            config.register_lambda_context(context)
            return process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )

        self._receive = receive
        self._work = work

    def receive(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._receive(event, Context())

    def worker(self) -> Any:
        return self._work


Figures = tuple[float, float, float, float, float, float]


def run_side(side: Side, webhooks: int) -> Figures:
    """(ms per webhook, ms per job, calls per webhook, calls per job, client CPU ms per
    webhook, client CPU ms per job) for one round."""
    side.clients.calls.clear()
    events = [http_event(f"evt_{uuid.uuid4().hex[:10]}") for _ in range(webhooks)]
    started, cpu = time.perf_counter(), time.process_time()
    for event in events:
        assert side.receive(event)["statusCode"] == 200
    received = time.perf_counter() - started
    receive_cpu = time.process_time() - cpu
    receive_calls = side.clients.total_calls()
    started, cpu = time.perf_counter(), time.process_time()
    jobs = drain(side.queue, side.urls.queue_arn, side.worker())
    worked = time.perf_counter() - started
    work_cpu = time.process_time() - cpu
    assert jobs == webhooks, (jobs, webhooks)
    # Draining also receives and deletes (Lambda's event source mapping does that, unbilled to
    # the function): count only the calls the worker itself made.
    own = sum(
        n
        for op, n in side.clients.calls.items()
        if op not in ("sqs.ReceiveMessage", "sqs.DeleteMessageBatch")
    )
    return (
        received / webhooks * 1000,
        worked / jobs * 1000,
        receive_calls / webhooks,
        (own - receive_calls) / jobs,
        receive_cpu / webhooks * 1000,
        work_cpu / jobs * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[Figures]] = {"Seawall": [], "Powertools": []}
    with local_aws(own_process=True) as endpoint:
        for round_no in range(args.rounds):
            # Fresh tables every round: moto copies a whole table for each TransactWriteItems
            # (to roll back), so its cost grows with the table; DynamoDB's does not.
            sides: list[Side] = [Seawall(endpoint), Powertools(endpoint)]
            order = sides if round_no % 2 == 0 else list(reversed(sides))
            for side in order:
                results[type(side).__name__].append(run_side(side, args.webhooks))
    medians = {
        name: tuple(statistics.median(r[i] for r in rows) for i in range(6))
        for name, rows in results.items()
    }
    print(f"{args.webhooks} webhooks x {args.rounds} rounds (medians; moto in its own process)")
    print(
        f"{'':12} {'ms/webhook':>11} {'ms/job':>8} {'calls/webhook':>14} {'calls/job':>10} "
        f"{'cpu ms/webhook':>15} {'cpu ms/job':>11}"
    )
    for name, (rw, rj, cw, cj, uw, uj) in medians.items():
        print(f"{name:12} {rw:11.2f} {rj:8.2f} {cw:14.2f} {cj:10.2f} {uw:15.3f} {uj:11.3f}")
    s, p = medians["Seawall"], medians["Powertools"]
    print(
        f"ratio Powertools/seawall: receive {p[0] / s[0]:.2f}x, work {p[1] / s[1]:.2f}x, "
        f"calls per webhook {p[2] / s[2]:.2f}x, calls per job {p[3] / s[3]:.2f}x, "
        f"client CPU per webhook {p[4] / s[4]:.2f}x, per job {p[5] / s[5]:.2f}x"
    )


if __name__ == "__main__":
    main()
