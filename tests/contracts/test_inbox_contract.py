"""One inbox contract, every backend: SQLite, PostgreSQL and DynamoDB (a real moto endpoint)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from seawall.store import open_store
from seawall.testing import FakeClock
from seawall.webhooks.events import EventNotFoundError
from seawall.webhooks.inbox import InboxEntry
from seawall.webhooks.inbox_backend import Inbox, SqlInbox
from tests.conftest import dispose, require_postgres, unique_schema

_tables = itertools.count(1)


@pytest_asyncio.fixture(params=["sqlite", "postgresql", "dynamodb"])
async def inbox(request: pytest.FixtureRequest) -> AsyncIterator[Inbox]:
    """The inbox of one backend, empty."""
    if request.param == "dynamodb":
        from seawall.aws.clients import AwsClients
        from seawall.aws.inbox import DynamoInbox
        from seawall.aws.resources import AwsNames, ensure_resources

        endpoint = request.getfixturevalue("aws_endpoint")
        clients = AwsClients(region="us-east-1", endpoint_url=endpoint)
        names = AwsNames(f"contract-{next(_tables)}")
        ensure_resources(clients, names)
        yield DynamoInbox(clients, names.inbox_table)
        return
    if request.param == "sqlite":
        url = f"sqlite:///{request.getfixturevalue('tmp_path')}/inbox.db"
    else:
        url = f"{require_postgres()}?schema={unique_schema()}"
    store = open_store(url, clock=FakeClock())
    await store.migrate()
    try:
        yield SqlInbox(store)
    finally:
        await dispose(store)


def _entry(event_id: str, received_at: float = 1000.0, body: bytes = b"{}") -> InboxEntry:
    return InboxEntry("src", event_id, "thing.happened", body, '{"x-id":"1"}', received_at)


async def test_a_key_is_stored_once_even_when_raced(inbox: Inbox) -> None:
    results = await asyncio.gather(*(inbox.save(_entry("e1")) for _ in range(6)))
    assert sorted(results) == [False] * 5 + [True]
    stored = await inbox.get_event("src", "e1")
    assert (stored.status, stored.attempts, stored.body, stored.headers) == (
        "received",
        0,
        b"{}",
        {"x-id": "1"},
    )


async def test_bodies_are_kept_byte_for_byte(inbox: Inbox) -> None:
    raw = bytes(range(256))
    await inbox.save(_entry("bin", body=raw))
    assert (await inbox.get_event("src", "bin")).body == raw


async def test_an_outcome_is_recorded_once(inbox: Inbox) -> None:
    await inbox.save(_entry("e1"))
    fields = {"attempts": 1, "error": None, "processed_at": 1001.0, "job_id": "j1"}
    assert await inbox.mark_final("src", "e1", status="processed", **fields)
    assert not await inbox.mark_final("src", "e1", status="dead", **fields)
    stored = await inbox.get_event("src", "e1")
    assert stored.status == "processed" and stored.processed_at == 1001.0
    assert stored.job_id == "j1"


async def test_listing_counting_and_replay(inbox: Inbox) -> None:
    for n in range(3):
        await inbox.save(_entry(f"e{n}", received_at=1000.0 + n))
    await inbox.mark_final(
        "src", "e1", status="dead", attempts=3, error="boom", processed_at=2000.0, job_id="j"
    )
    assert await inbox.counts_by_status() == {"received": 2, "dead": 1}
    newest_first = [e.event_id for e in await inbox.list_events()]
    assert newest_first == ["e2", "e1", "e0"]
    [dead] = await inbox.list_events(status="dead")
    assert dead.event_id == "e1" and dead.last_error == "boom" and dead.body is None
    assert [e.event_id for e in await inbox.list_events(limit=1)] == ["e2"]
    await inbox.reset_for_replay("src", "e1")
    replayed = await inbox.get_event("src", "e1")
    assert replayed.status == "received" and replayed.last_error is None
    with pytest.raises(EventNotFoundError):
        await inbox.reset_for_replay("src", "missing")
    with pytest.raises(EventNotFoundError):
        await inbox.get_event("src", "missing")
    with pytest.raises(ValueError, match="unknown status"):
        await inbox.list_events(status="bogus")
