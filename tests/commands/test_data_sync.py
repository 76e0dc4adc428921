"""publish_async + the real Worker on both engines: outbox, projection, handlers, crash, repair."""

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
    project,
)
from seawall.commands.projection import PreviousVersionPending
from seawall.jobs import Queue, Worker
from seawall.store import Store, Tx
from seawall.testing import FakeClock
from tests.commands.helpers import drain

CTX = InvokeContext(request_id="req-1", source_ip="192.0.2.1", claims={"sub": "u-1"})


def order(version: int, amount: int = 100, sk: str = "o-1") -> CommandInputModel:
    """An order command based on `version`."""
    return CommandInputModel(
        pk="ORDER#t1",
        sk=sk,
        code=sk,
        name="order",
        version=version,
        type="ORDER",
        attributes={"amount": amount},
    )


class LedgerHandler:
    """Writes one ledger row per command version; can be told to crash after writing."""

    name = "ledger"

    def __init__(self, crash_times: int = 0) -> None:
        self.crash_times = crash_times
        self.ups: list[int] = []
        self.downs: list[int] = []

    async def up(self, cmd: CommandModel, tx: Tx) -> None:
        """Record the command in the ledger table, then maybe crash."""
        await tx.execute(
            "INSERT INTO ledger (pk, sk, version, amount) VALUES (?, ?, ?, ?)",
            (cmd.pk, cmd.sk, cmd.version, cmd.attributes["amount"]),
        )
        self.ups.append(cmd.version)
        if self.crash_times:
            self.crash_times -= 1
            raise RuntimeError("worker crashed mid-projection")

    async def down(self, cmd: CommandModel) -> None:
        """Note the compensation."""
        self.downs.append(cmd.version)


class AuditHandler:
    """A second handler that runs after the ledger."""

    name = "audit"

    def __init__(self) -> None:
        self.ups: list[int] = []
        self.downs: list[int] = []

    async def up(self, cmd: CommandModel, tx: Tx) -> None:
        """Record the version."""
        self.ups.append(cmd.version)

    async def down(self, cmd: CommandModel) -> None:
        """Record the compensation."""
        self.downs.append(cmd.version)


async def make_ledger(store: Store) -> None:
    """The table a handler writes its effects to."""
    async with store.transaction() as tx:
        await tx.execute(
            "CREATE TABLE ledger (pk TEXT, sk TEXT, version INTEGER, amount INTEGER, "
            "PRIMARY KEY (pk, sk, version))"
        )


async def count(store: Store, sql: str, params: tuple[Any, ...] = ()) -> int:
    """A COUNT(*) query's answer."""
    async with store.read() as tx:
        return int(await tx.fetchval(sql, params))


def worker_for(store: Store, service: CommandService, clock: FakeClock) -> Worker:
    """A worker wired to the service's data-sync queue."""
    worker = Worker(store, concurrency=4, clock=clock, poll_interval=0.05)
    service.register_worker(worker)
    return worker


async def test_publish_async_commits_command_and_job_then_worker_projects(
    store: Store, clock: FakeClock
) -> None:
    await make_ledger(store)
    service = CommandService(store)
    ledger, audit = LedgerHandler(), AuditHandler()
    service.register_data_sync_handler(ledger)
    service.register_data_sync_handler(audit)
    published = await service.publish_async(order(0), invoke_context=CTX)
    assert published is not None and published.status == "publish_async:STARTED"
    assert published.version == 1 and published.sk == "o-1@1"
    assert (
        await count(store, "SELECT COUNT(*) FROM seawall_jobs WHERE queue = ?", (DATA_SYNC_QUEUE,))
        == 1
    )
    assert await service.get_item(DetailKey("ORDER#t1", "o-1")) is None  # not projected yet
    latest = await service.get_latest_item("ORDER#t1", "o-1")
    assert latest is not None and latest.version == 1

    await service.publish_async(order(1, 200), invoke_context=CTX)
    await service.publish_partial_update_async(
        {"pk": "ORDER#t1", "sk": "o-1", "version": 2, "attributes": {"note": "x"}},
        invoke_context=CTX,
    )
    assert await drain(worker_for(store, service, clock), clock) == 3
    item = await service.get_item(DetailKey("ORDER#t1", "o-1"))
    assert item is not None and item.version == 3
    assert item.attributes == {"amount": 200, "note": "x"}
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1, 2]
    # per item in version order, whatever order the jobs ran in
    assert ledger.ups == [1, 2, 3] and audit.ups == [1, 2, 3]
    assert (
        await count(store, "SELECT COUNT(*) FROM seawall_commands WHERE status = 'finish:FINISHED'")
        == 3
    )


async def test_outbox_rolls_back_command_and_job_together(store: Store) -> None:
    class FailingQueue(Queue):
        """A queue whose transaction dies right after the job is written."""

        async def enqueue(self, queue_name: str, payload: dict[str, Any], **kw: Any) -> str | None:
            await super().enqueue(queue_name, payload, **kw)
            raise ConnectionError("connection lost before commit")

    service = CommandService(store, queue=FailingQueue(store))
    with pytest.raises(ConnectionError):
        await service.publish_async(order(0), invoke_context=CTX)
    assert await count(store, "SELECT COUNT(*) FROM seawall_commands") == 0
    assert await count(store, "SELECT COUNT(*) FROM seawall_jobs") == 0


async def test_crash_mid_projection_then_rerun_projects_once(
    store: Store, clock: FakeClock
) -> None:
    await make_ledger(store)
    service = CommandService(store)
    audit, ledger = AuditHandler(), LedgerHandler(crash_times=1)
    service.register_data_sync_handler(audit)
    service.register_data_sync_handler(ledger)
    await service.publish_async(order(0), invoke_context=CTX)
    worker = worker_for(store, service, clock)
    assert await worker.run_until_idle() == 0  # the projection raised after writing
    assert worker.failed == 1
    assert audit.downs == [1]  # the handler that had run was compensated
    assert await service.get_item(DetailKey("ORDER#t1", "o-1")) is None
    assert await service.get_history("ORDER#t1", "o-1") == []
    assert await count(store, "SELECT COUNT(*) FROM ledger") == 0  # rolled back with it
    clock.advance(600)  # past the retry backoff
    command = await service.get_command("ORDER#t1", "o-1@1")
    assert command is not None and command.status == "sync_data:FAILED"
    assert await worker.run_until_idle() == 1
    assert await service.get_history("ORDER#t1", "o-1") == []  # nothing before v1
    assert await count(store, "SELECT COUNT(*) FROM ledger") == 1
    item = await service.get_item(DetailKey("ORDER#t1", "o-1"))
    assert item is not None and item.version == 1
    assert ledger.ups == [1, 1]  # ran twice, committed once


async def test_projection_is_idempotent_and_waits_for_the_previous_version(
    store: Store,
) -> None:
    await make_ledger(store)
    service = CommandService(store)
    ledger = LedgerHandler()
    service.register_data_sync_handler(ledger)
    await service.publish_async(order(0, 1), invoke_context=CTX)
    await service.publish_async(order(1, 2), invoke_context=CTX)
    async with store.read() as tx:
        rows = await tx.fetchall("SELECT * FROM seawall_commands ORDER BY version")
    handlers = service.data_sync_handlers
    async with store.transaction() as tx:  # v2 first: it waits for v1
        with pytest.raises(PreviousVersionPending):
            await project(tx, rows[1], handlers)
    async with store.transaction() as tx:
        assert await project(tx, rows[0], handlers)
        assert await project(tx, rows[1], handlers)
        assert not await project(tx, rows[1], handlers)
        assert not await project(tx, rows[0], handlers)
    item = await service.get_item(DetailKey("ORDER#t1", "o-1"))
    assert item is not None and item.version == 2 and item.attributes == {"amount": 2}
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1]
    assert ledger.ups == [1, 2]
    assert await count(store, "SELECT COUNT(*) FROM ledger") == 2


async def test_sync_pending_repairs_without_a_worker(store: Store) -> None:
    service = CommandService(store)
    for i in range(3):
        await service.publish_async(order(0, sk=f"o-{i}"), invoke_context=CTX)
    assert await service.sync_pending() == 3
    assert await service.sync_pending() == 0
    page = await service.list_items_by_pk("ORDER#t1")
    assert [i.sk for i in page.items] == ["o-0", "o-1", "o-2"]


async def test_register_rejects_a_handler_without_up_and_down(store: Store) -> None:
    class NotAHandler:
        name = "x"

    with pytest.raises(TypeError, match="up"):
        CommandService(store).register_data_sync_handler(NotAHandler())  # type: ignore[arg-type]


async def test_twenty_concurrent_async_publishes_one_command_one_job(
    store: Store, clock: FakeClock
) -> None:
    service = CommandService(store)
    await service.publish_sync(order(0), invoke_context=CTX)
    results = await asyncio.gather(
        *(service.publish_async(order(1, amount=i), invoke_context=CTX) for i in range(20)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, CommandModel)]
    assert len(winners) == 1
    assert sum(isinstance(r, VersionConflictError) for r in results) == 19  # all 409
    assert await count(store, "SELECT COUNT(*) FROM seawall_jobs") == 1
    assert await drain(worker_for(store, service, clock), clock) == 1
    item = await service.get_item(DetailKey("ORDER#t1", "o-1"))
    assert item is not None and item.version == 2
    assert item.attributes == winners[0].attributes
