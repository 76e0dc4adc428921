"""The framework's observable behaviour, point by point, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from pydantic import ValidationError

from seawall.commands import (
    CommandInputModel,
    CommandModel,
    CommandNotFoundError,
    CommandNotification,
    CommandService,
    DetailKey,
    VersionConflictError,
    VersionMismatchError,
    get_sort_key_version,
)
from seawall.jobs import Worker
from seawall.store import Store, open_store
from seawall.store.migrator import load_migrations
from seawall.store.schema import apply_migrations
from seawall.testing import FakeClock
from tests.commands.helpers import CTX, DAY, KEY, Notes, Recorder, drain, order
from tests.conftest import dispose


def worker_for(store: Store, service: CommandService, clock: FakeClock) -> Worker:
    """A worker running the service's data-sync jobs."""
    worker = Worker(store, concurrency=4, clock=clock, poll_interval=0.05)
    service.register_worker(worker)
    return worker


# -- 1. the versioned sort key -----------------------------------------------------------------


async def test_commands_carry_the_versioned_sort_key(store: Store, clock: FakeClock) -> None:
    service = CommandService(store)
    recorder = Recorder()
    service.register_data_sync_handler(recorder)
    created = await service.publish_sync(order(0), invoke_context=CTX)
    assert created is not None and created.sk == "o-1@1"
    assert get_sort_key_version(created.sk) == 1
    queued = await service.publish_async(order(1, 2), invoke_context=CTX)
    assert queued is not None and queued.sk == "o-1@2" and get_sort_key_version(queued.sk) == 2
    await drain(worker_for(store, service, clock), clock)
    assert recorder.seen == ["o-1@1", "o-1@2"]
    latest = await service.get_latest_item("ORDER#t1", "o-1")
    assert latest is not None and latest.sk == "o-1@2"
    first = await service.get_command("ORDER#t1", "o-1@1")
    assert first is not None and first.attributes == {"amount": 100}
    item = await service.get_item(KEY)
    assert item is not None and item.sk == "o-1" and item.csk == "o-1@2"


# -- 2 and 3. status codes and version rules --------------------------------------------------


async def test_publish_sync_checks_the_data_table_with_400(store: Store) -> None:
    service = CommandService(store)
    created = await service.publish_sync(order(None), invoke_context=CTX)  # no version: 0
    assert created is not None and created.version == 1
    for wrong in (0, 2, 5):
        with pytest.raises(VersionMismatchError) as info:
            await service.publish_sync(order(wrong, 7), invoke_context=CTX)
        assert info.value.status_code == 400 and not isinstance(info.value, VersionConflictError)
    # an async command stored but not synced: the data row is still v1, so version 1 passes
    # the check and then loses on the insert of sk@2 (409), and version 2 is a 400
    await service.publish_async(order(1, 2), invoke_context=CTX)
    with pytest.raises(VersionConflictError) as race:
        await service.publish_sync(order(1, 3), invoke_context=CTX)
    assert race.value.status_code == 409
    with pytest.raises(VersionMismatchError) as ahead:
        await service.publish_sync(order(2, 3), invoke_context=CTX)
    assert ahead.value.status_code == 400


async def test_publish_async_only_needs_sk_at_n_to_exist(store: Store) -> None:
    service = CommandService(store)
    await service.publish_async(order(0), invoke_context=CTX)
    await service.publish_async(order(1, 2), invoke_context=CTX)
    with pytest.raises(VersionMismatchError) as missing:  # no sk@5: 400
        await service.publish_async(order(5, 3), invoke_context=CTX)
    assert missing.value.status_code == 400
    with pytest.raises(VersionConflictError) as taken:  # sk@1 exists, sk@2 is taken: 409
        await service.publish_async(order(1, 3), invoke_context=CTX)
    assert taken.value.status_code == 409
    with pytest.raises(VersionConflictError):  # creating an existing item: sk@1 is taken
        await service.publish_async(order(0, 3), invoke_context=CTX)
    on_top = await service.publish_async(order(-1, 3), invoke_context=CTX)
    assert on_top is not None and on_top.version == 3


async def test_partial_updates_need_the_exact_version_and_an_item(store: Store) -> None:
    service = CommandService(store)
    with pytest.raises(CommandNotFoundError) as missing:
        await service.publish_partial_update_sync(
            {"pk": "ORDER#t1", "sk": "o-1", "version": 0}, invoke_context=CTX
        )
    assert missing.value.status_code == 400
    with pytest.raises(CommandNotFoundError):
        await service.publish_partial_update_async(
            {"pk": "ORDER#t1", "sk": "o-1", "version": 3}, invoke_context=CTX
        )
    await service.publish_sync(order(0), invoke_context=CTX)
    with pytest.raises(VersionMismatchError) as latest:  # -1 is not accepted here
        await service.publish_partial_update_sync(
            {"pk": "ORDER#t1", "sk": "o-1", "version": -1, "name": "x"}, invoke_context=CTX
        )
    assert latest.value.status_code == 400
    renamed = await service.publish_partial_update_sync(
        {"pk": "ORDER#t1", "sk": "o-1", "version": 1, "name": "x"}, invoke_context=CTX
    )
    assert renamed is not None and renamed.version == 2 and renamed.name == "x"
    # the async form builds on sk@N (or the latest for -1) and only needs it to exist
    queued = await service.publish_partial_update_async(
        {"pk": "ORDER#t1", "sk": "o-1", "version": -1, "attributes": {"note": "n"}},
        invoke_context=CTX,
    )
    assert queued is not None and queued.version == 3
    assert queued.attributes == {"amount": 100, "note": "n"} and queued.name == "x"


# -- 4. history holds the data before each change -----------------------------------------


async def test_history_holds_each_version_before_its_change(store: Store) -> None:
    service = CommandService(store)
    for version in range(4):
        await service.publish_sync(order(version, 100 + version), invoke_context=CTX)
    history = await service.get_history("ORDER#t1", "o-1")
    assert [(h.version, h.attributes["amount"]) for h in history] == [
        (1, 100),
        (2, 101),
        (3, 102),
    ]
    item = await service.get_item(KEY)
    assert item is not None and item.version == 4
    v2 = await service.get_item(DetailKey("ORDER#t1", "o-1@2"))
    assert v2 is not None and v2.attributes == {"amount": 101}


# -- 5. data sync per item in version order ------------------------------------------------


async def test_data_sync_runs_in_version_order_and_alarms_on_a_gap(
    store: Store, clock: FakeClock
) -> None:
    notes = Notes()
    service = CommandService(store, notify=notes)
    recorder = Recorder()
    service.register_data_sync_handler(recorder)
    for version in range(5):
        await service.publish_async(order(version, version), invoke_context=CTX)
    async with store.transaction() as tx:  # the newest jobs first: each must wait its turn
        for job in await tx.fetchall("SELECT id, payload FROM seawall_jobs"):
            version = json.loads(job["payload"])["version"]
            await tx.execute(
                "UPDATE seawall_jobs SET priority = ? WHERE id = ?", (version, job["id"])
            )
    worker = Worker(store, concurrency=4, clock=clock, poll_interval=0.05)
    service.register_worker(worker)
    await drain(worker, clock)
    assert recorder.seen == [f"o-1@{v}" for v in range(1, 6)]
    # a command whose version the data row already passed without it finishing: an alarm
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE seawall_commands SET status = 'publish_async:STARTED' WHERE version = 3"
        )
    assert await service.sync_pending() == 0
    stale = await service.get_command("ORDER#t1", "o-1@3")
    assert stale is not None and stale.status == "check_version:FAILED"
    alarms = [n for n in notes.got if n.action == "sfn-alarm"]
    assert [a.sk for a in alarms] == ["o-1@3"]
    assert "next version must be 6 but got 3" in alarms[0].content["errorMessage"]["cause"]
    assert alarms[0].tenant_code == "t1"
    assert await service.sync_pending() == 0  # an alarmed command is not retried
    assert len([n for n in notes.got if n.action == "sfn-alarm"]) == 1


async def test_a_missing_previous_command_does_not_block_the_next(store: Store) -> None:
    service = CommandService(store)
    await service.publish_async(order(0), invoke_context=CTX)
    await service.publish_async(order(1, 2), invoke_context=CTX)
    async with store.transaction() as tx:  # v1 is gone (expired) before it was synced
        await tx.execute("DELETE FROM seawall_commands WHERE version = 1")
    assert await service.sync_pending() == 1
    item = await service.get_item(KEY)
    assert item is not None and item.version == 2


# -- 6. statuses and notifications -----------------------------------------------------------


async def test_statuses_are_announced(store: Store, clock: FakeClock) -> None:
    notes = Notes()
    service = CommandService(store)
    service.add_notifier(notes)
    synced = await service.publish_sync(order(0), invoke_context=CTX)
    assert synced is not None and synced.status == "finish:FINISHED"
    queued = await service.publish_async(order(1, 2), invoke_context=CTX)
    assert queued is not None and queued.status == "publish_async:STARTED"
    await drain(worker_for(store, service, clock), clock)
    assert notes.statuses() == [("o-1@1", "finish:FINISHED"), ("o-1@2", "finish:FINISHED")]
    note = notes.got[0]
    assert note.action == "command-status" and note.id == "req-1"
    assert note.table == "seawall_commands" and note.pk == "ORDER#t1"
    assert note.tenant_code == "t1" and note.content["source"] == "seawall"


async def test_failures_are_marked_and_announced(store: Store, clock: FakeClock) -> None:
    notes = Notes()
    service = CommandService(store, notify=notes)
    service.register_data_sync_handler(Recorder(fail=True))
    with pytest.raises(RuntimeError):
        await service.publish_sync(order(0), invoke_context=CTX)
    assert notes.statuses() == [("o-1@1", "publish_sync:FAILED")]
    # seawall keeps the publish atomic: the failed command is not stored (see the README)
    assert await service.get_latest_item("ORDER#t1", "o-1") is None
    await service.publish_async(order(0), invoke_context=CTX)
    worker = worker_for(store, service, clock)
    await worker.run_until_idle()
    failed = await service.get_command("ORDER#t1", "o-1@1")
    assert failed is not None and failed.status == "sync_data:FAILED"
    assert notes.statuses()[-1] == ("o-1@1", "sync_data:FAILED")


async def test_a_failing_notifier_does_not_fail_the_publish(store: Store) -> None:
    async def broken(note: CommandNotification) -> None:
        raise ConnectionError("SNS down")

    service = CommandService(store, notify=broken)
    assert await service.publish_sync(order(0), invoke_context=CTX) is not None


# -- 7. TTL ---------------------------------------------------------------------------------


async def test_ttl_is_set_as_the_framework_does_and_enforced(
    store: Store, clock: FakeClock
) -> None:
    service = CommandService(store, ttl_days={"data": 10, "command": 1, "history": 2})
    now = int(clock.time())
    first = await service.publish_sync(order(0), invoke_context=CTX)
    assert first is not None and first.ttl == now + 10 * DAY  # the data TTL on the command
    own = await service.publish_sync(order(1, 2, ttl=now + 30 * DAY), invoke_context=CTX)
    assert own is not None and own.ttl == now + 30 * DAY  # a given ttl wins
    previous = await service.get_command("ORDER#t1", "o-1@1")
    assert previous is not None and previous.ttl == now + DAY  # the command TTL
    [history] = await service.get_history("ORDER#t1", "o-1")
    assert history.version == 1 and history.ttl == now + 2 * DAY  # the history TTL
    clock.advance(DAY + 1)
    assert await service.get_command("ORDER#t1", "o-1@1") is None  # expired: gone
    assert len(await service.get_history("ORDER#t1", "o-1")) == 1
    clock.advance(DAY)
    assert await service.get_history("ORDER#t1", "o-1") == []
    assert await service.purge_expired() == 2  # command v1 and history v1
    item = await service.get_item(KEY)
    assert item is not None and item.version == 2
    clock.advance(30 * DAY)
    assert await service.get_item(KEY) is None
    assert (await service.list_items_by_pk("ORDER#t1")).items == []


async def test_ttl_days_per_tenant(store: Store, clock: FakeClock) -> None:
    def days(table: str, tenant: str | None) -> int | None:
        return 3 if (table, tenant) == ("data", "t1") else None

    service = CommandService(store, ttl_days=days)
    created = await service.publish_sync(order(0), invoke_context=CTX)
    assert created is not None and created.ttl == int(clock.time()) + 3 * DAY


# -- 9. partial updates: null overwrites --------------------------------------------------


async def test_a_null_in_a_partial_update_overwrites(store: Store) -> None:
    service = CommandService(store)
    await service.publish_sync(
        order(0, seq=7, attributes={"amount": 1, "note": "x", "address": {"city": "Tokyo"}}),
        invoke_context=CTX,
    )
    cleared = await service.publish_partial_update_sync(
        {
            "pk": "ORDER#t1",
            "sk": "o-1",
            "version": 1,
            "seq": None,
            "attributes": {"note": None, "address": {"city": None}},
        },
        invoke_context=CTX,
    )
    assert cleared is not None and cleared.seq is None
    assert cleared.attributes == {"amount": 1, "note": None, "address": {"city": None}}
    untouched = await service.publish_partial_update_sync(
        {"pk": "ORDER#t1", "sk": "o-1", "version": 2, "name": "renamed"}, invoke_context=CTX
    )
    assert untouched is not None and untouched.attributes["amount"] == 1
    # seawall refuses null for what it stores NOT NULL (the framework would store null)
    for field in ("name", "code", "type", "attributes", "isDeleted"):
        with pytest.raises(ValidationError, match="cannot be null"):
            await service.publish_partial_update_sync(
                {"pk": "ORDER#t1", "sk": "o-1", "version": 3, field: None}, invoke_context=CTX
            )


# -- 11. listing ------------------------------------------------------------------------------


async def test_list_items_by_pk_defaults(store: Store) -> None:
    service = CommandService(store)
    for i in range(12):
        body = order(0, i) | {"sk": f"o-{i:02d}", "isDeleted": i == 0}
        await service.publish_sync(CommandInputModel.model_validate(body), invoke_context=CTX)
    page = await service.list_items_by_pk("ORDER#t1")
    assert len(page.items) == 10 and page.items[0].sk == "o-00" and page.items[0].is_deleted
    assert page.last_sk == "o-09"
    rest = await service.list_items_by_pk("ORDER#t1", start_from_sk=page.last_sk)
    assert [i.sk for i in rest.items] == ["o-10", "o-11"] and rest.last_sk is None


# -- 12. module tables ----------------------------------------------------------------------


async def test_module_tables_have_the_framework_names(store: Store, clock: FakeClock) -> None:
    service = CommandService(store, module="order", env="dev", app="shop")
    assert (service.tables.command, service.tables.data, service.tables.history) == (
        "dev-shop-order-command",
        "dev-shop-order-data",
        "dev-shop-order-history",
    )
    await service.create_tables()
    await service.create_tables()  # idempotent
    await service.publish_sync(order(0), invoke_context=CTX)
    await service.publish_async(order(1, 2), invoke_context=CTX)
    await drain(worker_for(store, service, clock), clock)
    item = await service.get_item(KEY)
    assert item is not None and item.version == 2
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1]
    async with store.read() as tx:
        assert await tx.fetchval('SELECT COUNT(*) FROM "dev-shop-order-command"') == 2
        assert await tx.fetchval("SELECT COUNT(*) FROM seawall_commands") == 0
    # the default service does not see the module's items
    assert await CommandService(store).get_item(KEY) is None


def test_module_names_need_env_and_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NODE_ENV", raising=False)
    monkeypatch.delenv("APP_NAME", raising=False)
    from seawall.commands.tables import CommandTables

    with pytest.raises(ValueError, match="env"):
        CommandTables.for_module("order")
    with pytest.raises(ValueError, match="module"):
        CommandTables.for_module('bad"name', env="dev", app="shop")
    monkeypatch.setenv("NODE_ENV", "prod")
    monkeypatch.setenv("APP_NAME", "shop")
    assert CommandTables.for_module("order").data == "prod-shop-order-data"


def test_times_serialise_as_iso_strings() -> None:
    model = CommandModel.from_row(
        {
            "pk": "ORDER#t1",
            "sk": "o-1",
            "version": 1,
            "id": "ORDER#t1#o-1",
            "code": "o-1",
            "name": "n",
            "tenant_code": "t1",
            "type": "ORDER",
            "is_deleted": 0,
            "seq": None,
            "ttl": None,
            "attributes": "{}",
            "status": "finish:FINISHED",
            "source": "s",
            "request_id": "r",
            "created_at": 1700000000.0,
            "created_by": "u",
            "created_ip": "",
            "updated_at": 1700000000.0,
            "updated_by": "u",
            "updated_ip": "",
        }
    )
    dumped = model.model_dump(mode="json", by_alias=True)
    assert dumped["createdAt"] == "2023-11-14T22:13:20Z" and dumped["sk"] == "o-1@1"


# -- migration of a v0.1 database ----------------------------------------------------------


@pytest_asyncio.fixture
async def v01_store(store_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    """A store at schema v0.1 (migrations 0000-0005) with v0.1 command rows."""
    opened = open_store(store_url, clock=clock)
    async with opened.transaction() as tx:
        old = [m for m in load_migrations(tx.engine) if m.version <= 5]
        await apply_migrations(tx, old, clock.time())
    yield opened
    await dispose(opened)


async def test_a_v01_database_migrates(v01_store: Store, clock: FakeClock) -> None:
    cols = (
        "pk, sk, version, id, code, name, tenant_code, type, is_deleted, seq, ttl, attributes, "
        "{extra}, source, request_id, created_at, created_by, created_ip, updated_at, "
        "updated_by, updated_ip"
    )
    marks = ", ".join("?" for _ in range(21))
    now = clock.time()

    def row(version: int, extra: Any) -> tuple[Any, ...]:
        return (
            "ORDER#t1", "o-1", version, "ORDER#t1#o-1", "o-1", "n", "t1", "ORDER", 0, None,
            None, f'{{"amount": {version}}}', extra, "s", "r", now, "u", "", now, "u", "",
        )  # fmt: skip

    async with v01_store.transaction() as tx:
        for version, status in ((1, "synced"), (2, "synced"), (3, "pending")):
            await tx.execute(
                f"INSERT INTO seawall_commands ({cols.format(extra='status')}) VALUES ({marks})",
                row(version, status),
            )
        for version in (1, 2):  # v0.1 history held every synced version, the current one too
            await tx.execute(
                f"INSERT INTO seawall_command_history ({cols.format(extra='cpk, csk')}) "
                f"VALUES ({marks}, ?)",
                (*row(version, "ORDER#t1")[:13], f"o-1@{version}", *row(version, "")[13:]),
            )
        await tx.execute(
            f"INSERT INTO seawall_command_data ({cols.format(extra='cpk, csk')}) "
            f"VALUES ({marks}, ?)",
            (*row(2, "ORDER#t1")[:13], "o-1@2", *row(2, "")[13:]),
        )
    assert "0006_commands_framework" in await v01_store.migrate()
    service = CommandService(v01_store)
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1]
    v2 = await service.get_command("ORDER#t1", "o-1@2")
    assert v2 is not None and v2.status == "finish:FINISHED"
    assert await service.sync_pending() == 1  # the v0.1 `pending` command syncs now
    item = await service.get_item(KEY)
    assert item is not None and item.version == 3
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1, 2]
