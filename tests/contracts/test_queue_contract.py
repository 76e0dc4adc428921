"""One queue contract, every backend: the SQL queue on SQLite and PostgreSQL, and SQS (moto).

The contract is SQS's own: a received message is hidden for its visibility timeout, each receive
counts, an acknowledged message never comes back, after `max_receives` receives without an
acknowledgement it is in the dead-letter view with its payload, and redrive brings it back.
Each backend is driven through a small adapter; "the lease runs out" is the fake clock moving on
the SQL queue and the visibility being set to 0 on SQS (nothing sleeps).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from seawall.jobs import Job, Queue
from seawall.store import open_store
from seawall.testing import FakeClock
from tests.conftest import dispose, require_postgres, unique_schema

MAX_RECEIVES = 3
_names = itertools.count(1)


class SqlQueue:
    """The SQL queue as the contract drives it."""

    def __init__(self, queue: Queue, clock: FakeClock) -> None:
        self.queue, self.clock = queue, clock
        self.held: list[Job] = []

    async def send(self, payload: dict[str, Any]) -> None:
        await self.queue.enqueue("contract", payload, max_receives=MAX_RECEIVES)

    async def receive(self) -> list[tuple[dict[str, Any], int]]:
        jobs = await self.queue.claim("contract", limit=10, visibility_timeout=30)
        self.held += jobs
        return [(job.payload, job.receives) for job in jobs]

    async def ack_all(self) -> None:
        await self.queue.ack_many(self.held)
        self.held = []

    async def expire_leases(self) -> None:
        self.clock.advance(31)
        self.held = []

    async def dead_payloads(self) -> list[dict[str, Any]]:
        return [d.payload for d in await self.queue.dead_letters("contract")]

    async def redrive(self) -> int:
        return await self.queue.redrive(queue_name="contract")


class Sqs:
    """SQS (through SqsQueue) as the contract drives it."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.held: list[Any] = []

    async def send(self, payload: dict[str, Any]) -> None:
        await asyncio.to_thread(self.queue.send, json.dumps(payload))

    async def receive(self) -> list[tuple[dict[str, Any], int]]:
        self.held = await asyncio.to_thread(self.queue.receive, wait_s=0, visibility_timeout_s=30)
        return [(json.loads(m.body), m.receives) for m in self.held]

    async def ack_all(self) -> None:
        await asyncio.to_thread(self.queue.delete_many, [m.receipt for m in self.held])

    async def expire_leases(self) -> None:
        for message in self.held:
            await asyncio.to_thread(self.queue.retry_later, message.receipt, 0)

    async def dead_payloads(self) -> list[dict[str, Any]]:
        dead = await asyncio.to_thread(self.queue.peek_dead_letters)
        return [json.loads(m.body) for m in dead]

    async def redrive(self) -> int:
        return int(await asyncio.to_thread(self.queue.redrive))


@pytest_asyncio.fixture(params=["sqlite", "postgresql", "sqs"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "sqs":
        from seawall.aws.clients import AwsClients
        from seawall.aws.resources import AwsNames, ensure_resources
        from seawall.aws.sqs import SqsQueue

        clients = AwsClients(
            region="us-east-1", endpoint_url=request.getfixturevalue("aws_endpoint")
        )
        urls = ensure_resources(clients, AwsNames(f"queue-contract-{next(_names)}"), max_receives=3)
        yield Sqs(SqsQueue(clients, urls.queue, dead_letter_url=urls.dead_letter_queue))
        return
    clock = FakeClock()
    if request.param == "sqlite":
        url = f"sqlite:///{request.getfixturevalue('tmp_path')}/queue.db"
    else:
        url = f"{require_postgres()}?schema={unique_schema()}"
    store = open_store(url, clock=clock)
    await store.migrate()
    try:
        yield SqlQueue(Queue(store, default_max_receives=MAX_RECEIVES), clock)
    finally:
        await dispose(store)


async def test_a_received_job_is_hidden_and_an_acknowledged_one_never_returns(queue: Any) -> None:
    await queue.send({"n": 1})
    assert await queue.receive() == [({"n": 1}, 1)]
    assert await queue.receive() == []  # hidden while its lease runs
    await queue.ack_all()
    await queue.expire_leases()
    assert await queue.receive() == []


async def test_every_receive_counts_and_a_lease_that_runs_out_gives_the_job_back(
    queue: Any,
) -> None:
    await queue.send({"n": 2})
    for expected in (1, 2):
        assert await queue.receive() == [({"n": 2}, expected)]
        await queue.expire_leases()


async def test_after_max_receives_the_job_is_dead_with_its_payload_and_redrive_returns_it(
    queue: Any,
) -> None:
    await queue.send({"n": 3})
    for _ in range(MAX_RECEIVES):
        assert len(await queue.receive()) == 1
        await queue.expire_leases()
    assert await queue.receive() == []  # the next receive finds it dead-lettered
    assert await queue.dead_payloads() == [{"n": 3}]
    assert await queue.redrive() == 1
    assert await queue.dead_payloads() == []
    [(payload, receives)] = await queue.receive()
    assert payload == {"n": 3} and receives == 1
