"""`InboxReads` on both engines: concurrent loads share reads, a lone load reads at once, and a
failed read or a cancelled loader touches only its own loads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from seawall.store import Store, Tx
from seawall.webhooks import inbox
from seawall.webhooks.inbox import InboxEntry
from seawall.webhooks.inbox_reads import InboxReads

SOURCE = "payment-provider"


class _ReadCountingStore:
    """The store, with its read transactions counted; the next read may be held at a gate or
    made to fail."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.fail_next: Exception | None = None

    @property
    def engine(self) -> Any:
        return self._store.engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        self.reads += 1
        gate, self.gate = self.gate, None
        if gate is not None:
            await gate.wait()
        failure, self.fail_next = self.fail_next, None
        if failure is not None:
            raise failure
        async with self._store.read() as tx:
            yield tx


async def _stored(store: Store, n: int) -> list[str]:
    ids = [f"evt_{i:03d}" for i in range(n)]
    entries = [InboxEntry(SOURCE, i, "payment.completed", i.encode(), "{}", 1.0) for i in ids]
    async with store.transaction() as tx:
        await inbox.insert_entries(tx, entries)
    return ids


def _reads(store: Store) -> tuple[_ReadCountingStore, InboxReads]:
    counting = _ReadCountingStore(store)
    return counting, InboxReads(cast(Store, counting))


async def _until(condition: Any) -> None:
    """Let other tasks run until `condition()` holds (no wall-clock wait)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    pytest.fail("the condition never held")


def _event_id(row: Any) -> str | None:
    return None if row is None else str(row["event_id"])


async def test_concurrent_loads_share_reads_and_a_lone_load_reads_at_once(store: Store) -> None:
    ids = await _stored(store, 60)
    counting, reads = _reads(store)
    asked = [*ids, "evt_missing", ids[0], ids[1]]
    rows = await asyncio.gather(*(reads.load(SOURCE, i) for i in asked))
    assert [_event_id(r) for r in rows] == [*ids, None, ids[0], ids[1]]
    assert bytes(rows[5]["body"]) == ids[5].encode()
    assert counting.reads <= 2, f"{len(asked)} concurrent loads took {counting.reads} reads"

    counting.reads = 0
    assert _event_id(await reads.load(SOURCE, ids[7])) == ids[7]
    assert counting.reads == 1

    counting.reads = 0
    gate = counting.gate = asyncio.Event()  # loads asked while a read is out...
    first = asyncio.create_task(reads.load(SOURCE, ids[0]))
    await _until(lambda: counting.reads == 1)
    later = [asyncio.create_task(reads.load(SOURCE, i)) for i in ids[1:40]]
    await _until(lambda: all(not t.done() for t in later))
    gate.set()
    assert _event_id(await first) == ids[0]
    assert [_event_id(await t) for t in later] == ids[1:40]
    assert counting.reads == 2, "...all go together in the next read"


async def test_a_failed_read_fails_exactly_the_loads_it_carried(store: Store) -> None:
    ids = await _stored(store, 6)
    counting, reads = _reads(store)
    gate = counting.gate = asyncio.Event()
    counting.fail_next = ConnectionError("read lost")
    carried = [asyncio.create_task(reads.load(SOURCE, i)) for i in ids[:3]]
    await _until(lambda: counting.reads == 1)
    queued = [asyncio.create_task(reads.load(SOURCE, i)) for i in ids[3:]]
    await asyncio.sleep(0)
    gate.set()
    for task in carried:
        with pytest.raises(ConnectionError, match="read lost"):
            await task
    assert [_event_id(await t) for t in queued] == ids[3:]
    assert _event_id(await reads.load(SOURCE, ids[0])) == ids[0]
    assert counting.reads == 3


async def test_loads_fail_while_the_table_is_away_and_succeed_once_it_is_back(
    store: Store,
) -> None:
    ids = await _stored(store, 3)
    reads = InboxReads(store)
    async with store.transaction() as tx:
        await tx.execute("ALTER TABLE seawall_webhook_inbox RENAME TO seawall_inbox_away")
    results = await asyncio.gather(*(reads.load(SOURCE, i) for i in ids), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results), results
    async with store.transaction() as tx:
        await tx.execute("ALTER TABLE seawall_inbox_away RENAME TO seawall_webhook_inbox")
    rows = await asyncio.gather(*(reads.load(SOURCE, i) for i in ids))
    assert [_event_id(r) for r in rows] == ids


async def test_a_cancelled_loader_does_not_disturb_the_others(store: Store) -> None:
    ids = await _stored(store, 6)
    counting, reads = _reads(store)
    gate = counting.gate = asyncio.Event()
    # The first loader starts the read; it and one queued loader are cancelled.
    in_read = [asyncio.create_task(reads.load(SOURCE, i)) for i in ids[:3]]
    await _until(lambda: counting.reads == 1)
    queued = [asyncio.create_task(reads.load(SOURCE, i)) for i in ids[3:]]
    await asyncio.sleep(0)
    in_read[0].cancel()
    queued[1].cancel()
    gate.set()
    for task in (in_read[0], queued[1]):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [_event_id(await t) for t in in_read[1:]] == ids[1:3]
    assert [_event_id(await queued[0]), _event_id(await queued[2])] == [ids[3], ids[5]]
    assert _event_id(await reads.load(SOURCE, ids[0])) == ids[0]
