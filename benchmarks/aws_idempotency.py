"""Idempotent Lambda handlers on DynamoDB: seawall `idempotent_lambda` vs Powertools `@idempotent`.

Run: `PYTHONPATH=src .venv/bin/python benchmarks/aws_idempotency.py` (options: --calls, --rounds).

One moto server (`seawall.aws.local.local_aws()`) on 127.0.0.1 serves both. Each side has its
own table of the same shape (partition key `id` S, pay per request, TTL on): seawall the
deployment's `{prefix}-idempotency`, Powertools `{prefix}-powertools` with its default attribute
names. The same handler is decorated by each, keyed by the event's `order_id` and checking the
whole event as the payload (seawall's default `payload`; Powertools' `payload_validation_jmespath`
of `@`), with a Lambda context reporting 30 s left.

Per round and side: `--calls` events with distinct keys (claim, run, store the result), then the
same `--calls` events again (repeats: the stored result comes back). The sides alternate which
goes first from round to round. Reported: the median over rounds of the mean milliseconds per
call, the ratio Powertools / seawall, the AWS API calls per call (counted by a botocore
`before-call` hook on each side's client), and the library's own time per call: the wall time
outside the HTTP exchanges (botocore's `before-call` to `after-call`, which covers sending, moto's
work and parsing the answer), i.e. the decorator, hashing, and building and validating requests.
moto runs in this process on the same cores, so the wall figures are mostly moto's own work.
"""

from __future__ import annotations

import sys

# `python benchmarks/aws_idempotency.py` puts benchmarks/ first on sys.path, where sibling
# scripts (queue.py) would shadow stdlib modules; drop it before importing anything else.
if sys.path and sys.path[0].rstrip("/").endswith("benchmarks"):
    del sys.path[0]

import argparse
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from seawall.aws.clients import AwsClients
from seawall.aws.idempotency import DynamoIdempotencyStore, idempotent_lambda
from seawall.aws.local import local_aws
from seawall.aws.resources import AwsNames, ensure_resources

Handler = Callable[[dict[str, Any], Any], Any]


class Context:
    """A Lambda context with 30 s left (what both decorators read)."""

    function_name = "bench"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The handler both sides decorate: a small JSON answer built from the event."""
    return {"statusCode": 200, "body": {"order_id": event["order_id"], "charged": event["amount"]}}


class Meter:
    """AWS API calls by operation, and the seconds spent inside them, for one client."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.in_calls = 0.0
        self._started = 0.0

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call", self._before)
        client.meta.events.register("after-call", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1
        self._started = time.perf_counter()

    def _after(self, **_: Any) -> None:
        self.in_calls += time.perf_counter() - self._started


def seawall_handler(clients: AwsClients, names: AwsNames) -> Handler:
    store = DynamoIdempotencyStore(clients, names.idempotency_table)
    return idempotent_lambda(store, key_of="order_id", scope="bench.charge")(handler)


def powertools_handler(endpoint: str, table: str, meter: Meter) -> Handler:
    import boto3
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent,
    )

    client = boto3.session.Session().client(
        "dynamodb", region_name="us-east-1", endpoint_url=endpoint
    )
    meter.attach(client)
    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)
    config = IdempotencyConfig(event_key_jmespath="order_id", payload_validation_jmespath="@")
    decorated: Handler = idempotent(persistence_store=layer, config=config)(handler)
    return decorated


def make_table(clients: AwsClients, name: str) -> None:
    db = clients.dynamodb
    db.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    db.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05})
    db.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )


def run(fn: Handler, events: list[dict[str, Any]], meter: Meter) -> tuple[float, float, float]:
    """Call `fn` on every event: (mean ms per call, AWS API calls per call, mean ms per call
    outside the HTTP exchanges)."""
    context = Context()
    before, inside = sum(meter.calls.values()), meter.in_calls
    start = time.perf_counter()
    for event in events:
        result = fn(event, context)
        assert result["body"]["order_id"] == event["order_id"], result
    elapsed = time.perf_counter() - start
    n = len(events)
    own = elapsed - (meter.in_calls - inside)
    return elapsed * 1000 / n, (sum(meter.calls.values()) - before) / n, own * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with local_aws() as endpoint:
        clients = AwsClients(region="us-east-1", endpoint_url=endpoint)
        names = AwsNames(f"bench-{uuid.uuid4().hex[:8]}")
        ensure_resources(clients, names)
        pt_table = f"{names.prefix}-powertools"
        make_table(clients, pt_table)
        sw_meter, pt_meter = Meter(), Meter()
        sw_meter.attach(clients.dynamodb)
        sides: dict[str, tuple[Handler, Meter]] = {
            "seawall": (seawall_handler(clients, names), sw_meter),
            "powertools": (powertools_handler(endpoint, pt_table, pt_meter), pt_meter),
        }
        # Warm both clients and code paths (connection, first-call imports) off the clock.
        for fn, meter in sides.values():
            run(fn, [{"order_id": f"warm-{uuid.uuid4().hex}", "amount": 1}], meter)
        figures: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for round_no in range(args.rounds):
            order = list(sides) if round_no % 2 == 0 else list(reversed(sides))
            for side in order:
                fn, meter = sides[side]
                tag = uuid.uuid4().hex[:8]
                events = [
                    {"order_id": f"{tag}-{i}", "amount": i, "currency": "EUR"}
                    for i in range(args.calls)
                ]
                for phase in ("new key", "repeat"):
                    mean_ms, api, own_ms = run(fn, events, meter)
                    figures.setdefault((side, phase), []).append((mean_ms, api, own_ms))
                    print(
                        f"round {round_no + 1} {side:10} {phase:8} {mean_ms:7.3f} ms/call "
                        f"{api:.2f} AWS calls/call, {own_ms:.3f} ms/call outside them",
                        flush=True,
                    )

        def median(side: str, phase: str, index: int) -> float:
            return statistics.median(f[index] for f in figures[(side, phase)])

        print()
        print(f"{args.calls} calls per phase, {args.rounds} rounds; medians of the rounds' means")
        print(
            f"{'phase':8} {'seawall ms':>10} {'powertools ms':>13} {'pt/sw':>6}  "
            f"{'AWS calls/call sw, pt':>21}  {'own ms/call sw, pt':>18}"
        )
        for phase in ("new key", "repeat"):
            sw, pt = median("seawall", phase, 0), median("powertools", phase, 0)
            apis = f"{median('seawall', phase, 1):.2f}, {median('powertools', phase, 1):.2f}"
            own = f"{median('seawall', phase, 2):.3f}, {median('powertools', phase, 2):.3f}"
            print(f"{phase:8} {sw:10.3f} {pt:13.3f} {pt / sw:6.2f}  {apis:>21}  {own:>18}")
        print()
        print("seawall API calls:", dict(sw_meter.calls))
        print("powertools API calls:", dict(pt_meter.calls))


if __name__ == "__main__":
    main()
