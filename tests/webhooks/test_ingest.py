"""The batching writer: every waiter is answered, duplicates are told apart, one job per event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from seawall.jobs import Queue
from seawall.store import Store
from seawall.store.sqlite import SqliteStore
from seawall.webhooks.inbox import InboxEntry
from seawall.webhooks.ingest import Ingestor
from tests.webhooks.support import count


def entry(event_id: str) -> InboxEntry:
    return InboxEntry("src", event_id, "t", b'{"id":"x"}', "{}", 1.0)


@pytest.mark.parametrize("writers", [1, 3])
async def test_bursts_all_answered(store: Store, writers: int) -> None:
    ingestor = Ingestor(store, Queue(store), "seawall.webhooks", max_batch=7, max_writers=writers)
    ids = [f"e{i % 150}" for i in range(400)]  # 150 distinct events, each sent 2 or 3 times

    async def submit_after(i: int, event_id: str) -> bool:
        await asyncio.sleep(0 if i % 3 else 0.001)
        return await ingestor.submit(entry(event_id), None)

    results = await asyncio.wait_for(
        asyncio.gather(*(submit_after(i, e) for i, e in enumerate(ids))), 30
    )
    assert sum(results) == 150
    assert {e for e, new in zip(ids, results, strict=True) if new} == set(ids)
    assert await count(store, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 150
    assert await count(store, "SELECT COUNT(*) FROM seawall_jobs") == 150
    again = await ingestor.submit(entry("e1"), None)
    assert again is False


async def test_every_field_lands_in_its_column(store: Store) -> None:
    stored = InboxEntry("src", "evt_cols", "order.paid", b'{"id":"evt_cols"}', '{"h":"v"}', 12.5)
    ingestor = Ingestor(store, Queue(store), "seawall.webhooks")
    assert await ingestor.submit(stored, None) is True
    async with store.read() as tx:
        row = await tx.fetchone(
            "SELECT source, event_id, event_type, body, headers, received_at "
            "FROM seawall_webhook_inbox WHERE event_id = ?",
            ("evt_cols",),
        )
    assert row is not None
    assert (row["source"], row["event_id"], row["event_type"]) == ("src", "evt_cols", "order.paid")
    assert bytes(row["body"]) == b'{"id":"evt_cols"}'
    assert (row["headers"], row["received_at"]) == ('{"h":"v"}', 12.5)


async def test_requests_arriving_while_the_writer_is_busy_share_one_batch(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "batch.db")
    await store.migrate()
    ingestor = Ingestor(store, Queue(store), "seawall.webhooks")
    async with store.transaction():
        # The writer is busy: every request submitted meanwhile waits for the next batch.
        pending = []
        for i in range(50):  # one at a time, as requests arrive
            pending.append(asyncio.create_task(ingestor.submit(entry(f"b{i}"), None)))
            await asyncio.sleep(0.001)
    assert all(await asyncio.gather(*pending))
    async with store.read() as tx:
        batches = await tx.fetchval("SELECT COUNT(DISTINCT enqueued_at) FROM seawall_jobs")
    assert batches == 1  # one transaction for all 50, not one per request
    await store.close()
