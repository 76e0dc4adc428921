"""A crash loop of the AWS worker: every acknowledged webhook is processed exactly once.

moto's server runs in a process of its own; the worker is `python -m seawall.aws.poller` (Lambda's
event source mapping played by a process, invoking the worker function's handler), SIGKILLed
0.3 to 1.0 s after each start, ten times, while signed webhooks (some delivered twice) go through
the receiver function's entry point as HTTP API events. The handler adds its effect to the
TransactWriteItems that holds the inbox mark; the queue's visibility timeout is 2 s, so the
batches a killed worker held come back. A last worker, not killed, drains the queue.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.aws.handlers_crash import SOURCE
from tests.aws.lambda_events import FakeLambdaContext, http_v2
from tests.webhooks.support import SECRET, event_body, guide_headers

from seawall.aws import entry
from seawall.aws.clients import AwsClients
from seawall.aws.local import local_aws
from seawall.aws.resources import AwsNames, create_table, ensure_resources
from seawall.aws.sqs import SqsQueue
from seawall.aws.transact import from_item

KILLS = 10
VISIBILITY_S = 2
MAX_RECEIVES = 20
PATH = f"/webhooks/{SOURCE}"
ROOT = Path(__file__).resolve().parents[2]


class Sender(threading.Thread):
    """The provider: new events through the receiver entry point, every fifth one a repeat."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.acked: set[str] = set()
        self.deliveries = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def deliver(self, event_id: str, amount: int) -> None:
        body = event_body(event_id, amount=amount)
        answer = entry.webhook_handler(
            http_v2(PATH, body, guide_headers(body)), FakeLambdaContext()
        )
        self.deliveries += 1
        if answer["statusCode"] == 200:
            self.acked.add(event_id)

    def run(self) -> None:
        rng = random.Random(5)
        number = 0
        try:
            while not self.stop.is_set():
                if self.acked and number % 5 == 4:
                    event_id = rng.choice(sorted(self.acked))
                    self.deliver(event_id, int(event_id.split("_")[1]))
                else:
                    self.deliver(f"evt_{number:05d}", number)
                number += 1
                time.sleep(0.02)
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def start_worker(*flags: str) -> subprocess.Popen[str]:
    """The poller process, once it says it is polling."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "seawall.aws.poller", *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("polling"), f"the worker did not start: {line!r}"
    return proc


def scan(clients: AwsClients, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        answer = clients.dynamodb.scan(**request)
        items += [from_item(i) for i in answer.get("Items", [])]
        if not answer.get("LastEvaluatedKey"):
            return items
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


@pytest.mark.slow
def test_a_worker_crash_loop_processes_every_acknowledged_webhook_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local_aws(own_process=True) as endpoint:
        clients = AwsClients(region="us-east-1", endpoint_url=endpoint)
        names = AwsNames(f"crash-{os.getpid()}")
        urls = ensure_resources(
            clients, names, max_receives=MAX_RECEIVES, visibility_timeout_s=VISIBILITY_S
        )
        effects = f"{names.prefix}-effects"
        create_table(clients, effects, [("id", "S")])
        config = tmp_path / "seawall.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [[webhooks]]
                source = "{SOURCE}"
                path = "{PATH}"
                secrets = ["literal:{SECRET}"]
                handlers = "tests.aws.handlers_crash"
                """
            )
        )
        starts = tmp_path / "starts.log"
        starts.touch()
        for name, value in {
            "SEAWALL_CONFIG": str(config),
            "SEAWALL_AWS_PREFIX": names.prefix,
            "SEAWALL_MAX_RECEIVES": str(MAX_RECEIVES),
            "AWS_ENDPOINT_URL": endpoint,
            "SEAWALL_TEST_STARTS": str(starts),
            "SEAWALL_TEST_EFFECTS_TABLE": effects,
        }.items():
            monkeypatch.setenv(name, value)
        entry.reset()
        sender = Sender()
        rng = random.Random(17)
        kills = 0
        try:
            sender.start()
            for _ in range(KILLS):
                worker = start_worker()
                time.sleep(rng.uniform(0.3, 1.0))
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                kills += 1
            sender.stop.set()
            sender.join(10)
            assert sender.error is None, sender.error
            drain = start_worker("--until-idle")
            assert drain.wait(60) == 0, "the last worker did not drain the queue"
        finally:
            sender.stop.set()
            entry.reset()

        inbox = {i["event_id"]: i for i in scan(clients, names.inbox_table)}
        per_event = collections.Counter(i["event_id"] for i in scan(clients, effects))
        tries = collections.Counter(starts.read_text().split())
        stats = SqsQueue(clients, urls.queue, dead_letter_url=urls.dead_letter_queue).stats()

    acked = sender.acked
    assert kills == KILLS
    assert len(acked) > 100, f"too little load to mean anything: {len(acked)} acknowledged"
    assert sender.deliveries > len(acked), "repeats were delivered too"
    assert not acked - inbox.keys(), "acknowledged events were lost"
    dead = {e for e, i in inbox.items() if i["status"] == "dead"}
    assert dead <= tries.keys(), f"dead without a handler run: {sorted(dead - tries.keys())[:5]}"
    assert {i["status"] for e, i in inbox.items() if e not in dead} <= {"processed"}
    processed = {e for e, i in inbox.items() if i["status"] == "processed"}
    assert all(per_event[e] == 1 for e in processed), [
        (e, n) for e, n in per_event.items() if n != 1
    ][:5]
    assert set(per_event) == processed, "an effect without its event's mark, or the reverse"
    assert stats.ready == stats.in_flight == stats.delayed == 0
    assert stats.dead == 0, "a message reached the dead-letter queue"
    assert any(n > 1 for n in tries.values()), "no kill struck a handler mid-batch"
