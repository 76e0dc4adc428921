"""One queue contract, every backend: the SQL queue on SQLite and PostgreSQL, and SQS (moto).

The contract is SQS's own: a received message is hidden for its visibility timeout, each receive
counts, an acknowledged message never comes back, after `max_receives` receives without an
acknowledgement it is in the dead-letter view with its payload, and redrive brings it back.
Every backend is typed as `JobQueue`: the SQL `Queue` implements it, and SQS through
`SqsJobQueue`. Only "the lease runs out" differs: the fake clock moving on the SQL queue, the
visibility set to 0 (a nack) on SQS; nothing sleeps.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from seawall.jobs import Job, Queue
from seawall.jobs.api import JobQueue
from seawall.store import open_store
from seawall.testing import FakeClock
from tests.conftest import dispose, require_postgres, unique_schema

MAX_RECEIVES = 3
QUEUE = "contract"
_names = itertools.count(1)


@dataclass
class Contract:
    """One engine's queue, typed as the protocol every engine implements, and how its leases
    run out: the fake clock moving on the SQL queue, visibility set to 0 on SQS."""

    queue: JobQueue
    run_out: Callable[[list[Job]], Awaitable[None]]
    held: list[Job] = field(default_factory=list)

    async def send(self, payload: dict[str, Any]) -> None:
        assert await self.queue.enqueue(QUEUE, payload) is not None

    async def receive(self) -> list[tuple[dict[str, Any], int]]:
        jobs = await self.queue.claim(QUEUE, limit=10, visibility_timeout=30)
        self.held += jobs
        return [(job.payload, job.receives) for job in jobs]

    async def ack_all(self) -> None:
        assert await self.queue.ack_many(self.held) == len(self.held)
        self.held = []

    async def expire_leases(self) -> None:
        await self.run_out(self.held)
        self.held = []

    async def dead_payloads(self) -> list[dict[str, Any]]:
        return [d.payload for d in await self.queue.dead_letters(QUEUE)]

    async def redrive(self) -> int:
        return await self.queue.redrive(queue_name=QUEUE)


@pytest_asyncio.fixture(params=["sqlite", "postgresql", "sqs"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[Contract]:
    if request.param == "sqs":
        from seawall.aws.clients import AwsClients
        from seawall.aws.resources import AwsNames, ensure_resources
        from seawall.aws.sqs import SqsQueue
        from seawall.aws.sqs_jobs import SqsJobQueue

        clients = AwsClients(
            region="us-east-1", endpoint_url=request.getfixturevalue("aws_endpoint")
        )
        urls = ensure_resources(
            clients, AwsNames(f"queue-contract-{next(_names)}"), max_receives=MAX_RECEIVES
        )
        sqs = SqsJobQueue(
            SqsQueue(clients, urls.queue, dead_letter_url=urls.dead_letter_queue),
            QUEUE,
            max_receives=MAX_RECEIVES,
        )

        async def visible_now(jobs: list[Job]) -> None:
            for job in jobs:
                assert await sqs.nack(job)

        yield Contract(sqs, visible_now)
        return
    clock = FakeClock()
    if request.param == "sqlite":
        url = f"sqlite:///{request.getfixturevalue('tmp_path')}/queue.db"
    else:
        url = f"{require_postgres()}?schema={unique_schema()}"
    store = open_store(url, clock=clock)
    await store.migrate()

    async def lease_ends(jobs: list[Job]) -> None:
        clock.advance(31)

    try:
        yield Contract(Queue(store, default_max_receives=MAX_RECEIVES), lease_ends)
    finally:
        await dispose(store)


async def test_a_received_job_is_hidden_and_an_acknowledged_one_never_returns(
    queue: Contract,
) -> None:
    await queue.send({"n": 1})
    assert await queue.receive() == [({"n": 1}, 1)]
    assert await queue.receive() == []  # hidden while its lease runs
    await queue.ack_all()
    await queue.expire_leases()
    assert await queue.receive() == []


async def test_every_receive_counts_and_a_lease_that_runs_out_gives_the_job_back(
    queue: Contract,
) -> None:
    await queue.send({"n": 2})
    for expected in (1, 2):
        assert await queue.receive() == [({"n": 2}, expected)]
        await queue.expire_leases()


async def test_after_max_receives_the_job_is_dead_with_its_payload_and_redrive_returns_it(
    queue: Contract,
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


async def test_stats_count_the_jobs_in_flight_and_a_held_lease_can_be_extended(
    queue: Contract,
) -> None:
    await queue.send({"n": 4})
    await queue.send({"n": 5})
    assert sorted(p["n"] for p, _ in await queue.receive()) == [4, 5]
    [stats] = [s for s in await queue.queue.stats() if s.queue == QUEUE]
    assert (stats.ready, stats.in_flight, stats.dead) == (0, 2, 0)
    assert await queue.queue.extend(queue.held[0], 60)
    await queue.ack_all()
