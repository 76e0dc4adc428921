"""Publishing in the caller's transaction (`tx=`) on both engines: commit, rollback, conflicts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from seawall.commands import (
    DATA_SYNC_QUEUE,
    CommandInputModel,
    CommandModel,
    CommandService,
    DetailKey,
    InvokeContext,
    VersionConflictError,
    VersionMismatchError,
)
from seawall.jobs import Worker
from seawall.store import Store, Tx
from seawall.testing import FakeClock
from tests.commands.helpers import drain

CTX = InvokeContext(request_id="req-tx", source_ip="192.0.2.5", claims={"sub": "u-tx"})
KEY = DetailKey("ORDER#t1", "o-1")


def order(version: int, amount: int = 100) -> CommandInputModel:
    """An order command based on `version`."""
    return CommandInputModel(
        pk="ORDER#t1",
        sk="o-1",
        code="o-1",
        name="order",
        version=version,
        type="ORDER",
        attributes={"amount": amount},
    )


def note(version: int, text: str) -> dict[str, Any]:
    """A partial update adding a note, based on `version`."""
    return {"pk": "ORDER#t1", "sk": "o-1", "version": version, "attributes": {"note": text}}


class Ledger:
    """A DataSyncHandler writing one row per projected version."""

    name = "ledger"

    async def up(self, cmd: CommandModel, tx: Tx) -> None:
        """Write the ledger row in the projection's transaction."""
        await tx.execute(
            "INSERT INTO ledger (version, amount) VALUES (?, ?)",
            (cmd.version, cmd.attributes["amount"]),
        )

    async def down(self, cmd: CommandModel) -> None:
        """Nothing outside the database to undo."""


class Rollback(Exception):
    """Raised to make the caller's transaction roll back."""


async def setup(store: Store) -> CommandService:
    """Tables for the caller's own effects and the handler's, and a service with the handler."""
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (name TEXT PRIMARY KEY)")
        await tx.execute("CREATE TABLE ledger (version INTEGER PRIMARY KEY, amount INTEGER)")
    service = CommandService(store)
    service.register_data_sync_handler(Ledger())
    return service


async def count(store: Store, sql: str, params: tuple[Any, ...] = ()) -> int:
    """A COUNT(*) query's answer."""
    async with store.read() as tx:
        return int(await tx.fetchval(sql, params))


async def test_sync_publishes_commit_and_roll_back_with_the_callers_tx(store: Store) -> None:
    service = await setup(store)
    with pytest.raises(Rollback):
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO effects (name) VALUES ('first try')")
            created = await service.publish_sync(order(0), invoke_context=CTX, tx=tx)
            assert created is not None and created.version == 1
            assert created.status == "finish:FINISHED"
            noted = await service.publish_partial_update_sync(
                note(1, "a"), invoke_context=CTX, tx=tx
            )
            assert noted is not None and noted.version == 2
            # the caller's reads see its own uncommitted writes
            latest = await service.get_latest_item("ORDER#t1", "o-1", tx=tx)
            assert latest is not None and latest.version == 2
            item = await service.get_item(KEY, tx=tx)
            assert item is not None and item.attributes == {"amount": 100, "note": "a"}
            raise Rollback
    assert await service.get_latest_item("ORDER#t1", "o-1") is None
    assert await service.get_item(KEY) is None
    assert await service.get_history("ORDER#t1", "o-1") == []
    assert await count(store, "SELECT COUNT(*) FROM ledger") == 0
    assert await count(store, "SELECT COUNT(*) FROM effects") == 0

    async with store.transaction() as tx:
        await tx.execute("INSERT INTO effects (name) VALUES ('second try')")
        await service.publish_sync(order(0), invoke_context=CTX, tx=tx)
        await service.publish_partial_update_sync(note(1, "b"), invoke_context=CTX, tx=tx)
    item = await service.get_item(KEY)
    assert item is not None and item.version == 2
    assert item.attributes == {"amount": 100, "note": "b"}
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1]
    assert await count(store, "SELECT COUNT(*) FROM ledger") == 2
    assert await count(store, "SELECT COUNT(*) FROM effects") == 1


async def test_async_publishes_write_command_and_job_in_the_callers_tx(
    store: Store, clock: FakeClock
) -> None:
    service = await setup(store)
    jobs = "SELECT COUNT(*) FROM seawall_jobs WHERE queue = ?"
    with pytest.raises(Rollback):
        async with store.transaction() as tx:
            await service.publish_async(order(0), invoke_context=CTX, tx=tx)
            await service.publish_partial_update_async(note(1, "a"), invoke_context=CTX, tx=tx)
            raise Rollback
    assert await service.get_latest_item("ORDER#t1", "o-1") is None
    assert await count(store, jobs, (DATA_SYNC_QUEUE,)) == 0

    async with store.transaction() as tx:
        await tx.execute("INSERT INTO effects (name) VALUES ('order placed')")
        first = await service.publish_async(order(0), invoke_context=CTX, tx=tx)
        second = await service.publish_partial_update_async(note(1, "a"), invoke_context=CTX, tx=tx)
    assert first is not None and first.status == "publish_async:STARTED"
    assert second is not None and second.version == 2 and second.sk == "o-1@2"
    assert await count(store, jobs, (DATA_SYNC_QUEUE,)) == 2
    worker = Worker(store, clock=clock, poll_interval=0.05)
    service.register_worker(worker)
    await drain(worker, clock)
    item = await service.get_item(KEY)
    assert item is not None and item.version == 2 and item.attributes["note"] == "a"
    assert await count(store, "SELECT COUNT(*) FROM ledger") == 2


async def test_a_conflict_in_the_callers_tx_writes_nothing_and_leaves_it_usable(
    store: Store,
) -> None:
    service = await setup(store)
    await service.publish_sync(order(0), invoke_context=CTX)
    async with store.transaction() as tx:
        await tx.execute("INSERT INTO effects (name) VALUES ('kept')")
        with pytest.raises(VersionMismatchError) as stale:
            await service.publish_sync(order(0, 5), invoke_context=CTX, tx=tx)
        assert (stale.value.expected, stale.value.actual) == (0, 1)
        with pytest.raises(VersionMismatchError):
            await service.publish_partial_update_sync(note(7, "x"), invoke_context=CTX, tx=tx)
        with pytest.raises(VersionMismatchError):
            await service.publish_async(order(3, 5), invoke_context=CTX, tx=tx)
        with pytest.raises(VersionConflictError):  # sk@1 exists but sk@2 is taken: 409
            await service.publish_async(order(0, 5), invoke_context=CTX, tx=tx)
        rebased = await service.publish_sync(order(1, 5), invoke_context=CTX, tx=tx)
        assert rebased is not None and rebased.version == 2
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1]
    assert await count(store, "SELECT COUNT(*) FROM effects") == 1
    assert await count(store, "SELECT COUNT(*) FROM ledger") == 2


async def test_a_conflict_propagating_rolls_back_the_callers_other_writes(store: Store) -> None:
    service = await setup(store)
    await service.publish_sync(order(0), invoke_context=CTX)
    with pytest.raises(VersionMismatchError):
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO effects (name) VALUES ('half done')")
            await service.publish_sync(order(0, 7), invoke_context=CTX, tx=tx)
    assert await count(store, "SELECT COUNT(*) FROM effects") == 0
    latest = await service.get_latest_item("ORDER#t1", "o-1")
    assert latest is not None and latest.version == 1 and latest.attributes == {"amount": 100}


async def test_racing_caller_transactions_on_one_version_one_wins(store: Store) -> None:
    service = await setup(store)
    await service.publish_sync(order(0), invoke_context=CTX)

    async def attempt(i: int) -> str:
        try:
            async with store.transaction() as tx:
                await tx.execute("INSERT INTO effects (name) VALUES (?)", (f"caller {i}",))
                await service.publish_sync(order(1, 1000 + i), invoke_context=CTX, tx=tx)
        except VersionMismatchError:
            return "conflict"
        return "won"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(8)))
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    item = await service.get_item(KEY)
    assert item is not None and item.version == 2
    winner = int(item.attributes["amount"]) - 1000
    async with store.read() as tx:
        effects = await tx.fetchall("SELECT name FROM effects")
    assert [row["name"] for row in effects] == [f"caller {winner}"]
    assert await count(store, "SELECT COUNT(*) FROM ledger") == 2
