"""DynamoCommandService against a real moto server: the framework parity points of
tests/commands/test_framework_parity.py that DynamoDB shares, then races, key shapes, TTL
attributes, SNS messages and API calls per operation.

Parity points not repeated here are SQL-specific: the caller's transaction (`tx=`), the job
queue's worker and its ordering (the DynamoDB service syncs from the stream: `sync_item`),
`purge_expired` (DynamoDB's TTL deletes), JSON's 1 vs 1.0 in "unchanged" (DynamoDB numbers
are decimals) and the migration of a v0.1 database.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import ValidationError
from tests.commands.helpers import CTX, DAY, KEY, Notes, Recorder, order

from seawall.aws.clients import AwsClients
from seawall.aws.commands import DynamoCommandService, SnsNotifier
from seawall.aws.resources import AwsNames
from seawall.aws.transact import DynamoTx, from_item, to_item
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
from seawall.store import open_store
from seawall.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """The services' clock (TTL tests move it)."""
    return FakeClock()


async def make(
    aws: AwsClients, names: AwsNames, clock: FakeClock, **options: Any
) -> DynamoCommandService:
    """A service on fresh tables `test-<prefix>-order-*`, the call counter cleared."""
    service = DynamoCommandService(
        aws, module="order", env="test", app=names.prefix, clock=clock, **options
    )
    await service.create_tables()
    aws.calls.clear()
    return service


def raw(aws: AwsClients, table: str) -> list[dict[str, Any]]:
    """Every item of `table`, as Python values, by sk."""
    items = [from_item(i) for i in aws.dynamodb.scan(TableName=table)["Items"]]
    return sorted(items, key=lambda i: (i["pk"], i["sk"]))


def set_status(aws: AwsClients, service: DynamoCommandService, sk: str, status: str) -> None:
    """Overwrite a stored command's status (to stage a broken state)."""
    aws.dynamodb.update_item(
        TableName=service.tables.command,
        Key=to_item({"pk": "ORDER#t1", "sk": sk}),
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=to_item({":s": status}),
    )


# -- 1. the versioned sort key, and the framework's key shapes ---------------------------------


async def test_commands_carry_the_versioned_sort_key(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    recorder = Recorder()
    service.register_data_sync_handler(recorder)
    created = await service.publish_sync(order(0), invoke_context=CTX)
    assert created is not None and created.sk == "o-1@1"
    queued = await service.publish_async(order(1, 2), invoke_context=CTX)
    assert queued is not None and queued.sk == "o-1@2" and get_sort_key_version(queued.sk) == 2
    assert await service.sync_item("ORDER#t1", "o-1") == 1
    assert recorder.seen == ["o-1@1", "o-1@2"]
    latest = await service.get_latest_item("ORDER#t1", "o-1")
    assert latest is not None and latest.sk == "o-1@2"
    first = await service.get_command("ORDER#t1", "o-1@1")
    assert first is not None and first.attributes == {"amount": 100}
    item = await service.get_item(KEY)
    assert item is not None and item.sk == "o-1" and item.csk == "o-1@2"


async def test_items_have_the_framework_shape(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    assert service.tables.command == f"test-{names.prefix}-order-command"
    await service.publish_sync(order(0), invoke_context=CTX)
    await service.publish_sync(order(1, 2), invoke_context=CTX)
    commands = raw(aws, service.tables.command)
    assert [c["sk"] for c in commands] == ["o-1@1", "o-1@2"]
    [data] = raw(aws, service.tables.data)
    [history] = raw(aws, service.tables.history)
    assert (data["sk"], data["version"], data["csk"]) == ("o-1", 2, "o-1@2")
    assert (history["sk"], history["version"], history["attributes"]) == (
        "o-1@1",
        1,
        {"amount": 100},
    )
    first = commands[0]
    assert first["createdAt"] == "2023-11-14T22:13:20+00:00"  # the framework's ISO form
    assert first["tenantCode"] == "t1" and first["isDeleted"] is False
    assert first["requestId"] == "req-1" and first["createdBy"] == "u-1"
    assert first["status"] == "finish:FINISHED" and first["attributes"] == {"amount": 100}
    assert "ttl" not in first and "seq" not in first  # no TTL configured, no seq given
    tables = aws.dynamodb.describe_table(TableName=service.tables.data)["Table"]
    assert tables["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in tables["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    ttl = aws.dynamodb.describe_time_to_live(TableName=service.tables.history)
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    await service.create_tables()  # idempotent


# -- 2 and 3. status codes and version rules --------------------------------------------------


async def test_publish_sync_checks_the_data_table_with_400(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    created = await service.publish_sync(order(None), invoke_context=CTX)
    assert created is not None and created.version == 1
    for wrong in (0, 2, 5):
        with pytest.raises(VersionMismatchError) as info:
            await service.publish_sync(order(wrong, 7), invoke_context=CTX)
        assert info.value.status_code == 400 and not isinstance(info.value, VersionConflictError)
    # an async command stored but not synced: version 1 passes the data check, then the
    # conditional put of sk@2 fails (409); version 2 is a 400
    await service.publish_async(order(1, 2), invoke_context=CTX)
    with pytest.raises(VersionConflictError) as race:
        await service.publish_sync(order(1, 3), invoke_context=CTX)
    assert race.value.status_code == 409 and race.value.actual == 2
    with pytest.raises(VersionMismatchError) as ahead:
        await service.publish_sync(order(2, 3), invoke_context=CTX)
    assert ahead.value.status_code == 400


async def test_publish_async_only_needs_sk_at_n_to_exist(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    await service.publish_async(order(0), invoke_context=CTX)
    await service.publish_async(order(1, 2), invoke_context=CTX)
    with pytest.raises(VersionMismatchError) as missing:
        await service.publish_async(order(5, 3), invoke_context=CTX)
    assert missing.value.status_code == 400
    with pytest.raises(VersionConflictError) as taken:
        await service.publish_async(order(1, 3), invoke_context=CTX)
    assert taken.value.status_code == 409
    with pytest.raises(VersionConflictError):
        await service.publish_async(order(0, 3), invoke_context=CTX)
    on_top = await service.publish_async(order(-1, 3), invoke_context=CTX)
    assert on_top is not None and on_top.version == 3


async def test_partial_updates_need_the_exact_version_and_an_item(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
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
    with pytest.raises(VersionMismatchError) as latest:
        await service.publish_partial_update_sync(
            {"pk": "ORDER#t1", "sk": "o-1", "version": -1, "name": "x"}, invoke_context=CTX
        )
    assert latest.value.status_code == 400
    renamed = await service.publish_partial_update_sync(
        {"pk": "ORDER#t1", "sk": "o-1", "version": 1, "name": "x"}, invoke_context=CTX
    )
    assert renamed is not None and renamed.version == 2 and renamed.name == "x"
    queued = await service.publish_partial_update_async(
        {"pk": "ORDER#t1", "sk": "o-1", "version": -1, "attributes": {"note": "n"}},
        invoke_context=CTX,
    )
    assert queued is not None and queued.version == 3
    assert queued.attributes == {"amount": 100, "note": "n"} and queued.name == "x"
    with pytest.raises(VersionConflictError):  # sk@3 exists, so sk@2 + 1 is taken
        await service.publish_partial_update_async(
            {"pk": "ORDER#t1", "sk": "o-1", "version": 2, "name": "y"}, invoke_context=CTX
        )


async def test_unchanged_command_returns_none(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    await service.publish_sync(order(0, attributes={"a": 1, "f": 1.5}), invoke_context=CTX)
    same = order(1, attributes={"f": 1.5, "a": 1})
    assert await service.publish_sync(same, invoke_context=CTX) is None
    assert (
        await service.publish_sync(order(-1, attributes=same["attributes"]), invoke_context=CTX)
        is None
    )
    await service.publish_async(order(1, attributes={"a": 2, "f": 1.5}), invoke_context=CTX)
    assert (
        await service.publish_async(order(2, attributes={"a": 2, "f": 1.5}), invoke_context=CTX)
        is None
    )
    # DynamoDB numbers are decimals: 2 and 2.0 are the same value (the SQL service differs)
    assert (
        await service.publish_async(order(-1, attributes={"a": 2.0, "f": 1.5}), invoke_context=CTX)
        is None
    )
    latest = await service.get_latest_item("ORDER#t1", "o-1")
    assert latest is not None and latest.version == 2


# -- 4. history holds the data before each change -----------------------------------------


async def test_history_holds_each_version_before_its_change(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
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
    v4 = await service.get_item({"pk": "ORDER#t1", "sk": "o-1@4"})
    assert v4 is not None and v4.version == 4
    assert await service.get_item(DetailKey("ORDER#t1", "o-1@9")) is None


async def test_history_sorts_versions_as_numbers(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    for version in range(11):  # sk@10 sorts before sk@9 as text
        await service.publish_sync(order(version, version), invoke_context=CTX)
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == list(range(1, 11))
    latest = await service.get_latest_item("ORDER#t1", "o-1")
    assert latest is not None and latest.version == 11
    # another item whose sk starts with "o-1@" is not mixed in
    await service.publish_sync(order(0) | {"sk": "o-1@x", "code": "x"}, invoke_context=CTX)
    assert len(await service.get_history("ORDER#t1", "o-1")) == 10


# -- 5. data sync per item in version order ------------------------------------------------


async def test_data_sync_runs_in_version_order_and_alarms_on_a_gap(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    notes = Notes()
    service = await make(aws, names, clock, notify=notes)
    recorder = Recorder()
    service.register_data_sync_handler(recorder)
    for version in range(5):
        await service.publish_async(order(version, version), invoke_context=CTX)
    # a stream batch naming the newest first: the item still syncs in version order
    images = list(reversed(raw(aws, service.tables.command)))
    event = {
        "Records": [
            {"eventName": "INSERT", "dynamodb": {"NewImage": to_item(image)}} for image in images
        ]
    }
    assert await service.handle_stream_event(event) == 5
    assert recorder.seen == [f"o-1@{v}" for v in range(1, 6)]
    assert await service.handle_stream_event(event) == 0  # redelivered: nothing to do
    # a command the data item passed without it finishing: an alarm
    set_status(aws, service, "o-1@3", "publish_async:STARTED")
    assert await service.sync_pending() == 0
    stale = await service.get_command("ORDER#t1", "o-1@3")
    assert stale is not None and stale.status == "check_version:FAILED"
    alarms = [n for n in notes.got if n.action == "sfn-alarm"]
    assert [a.sk for a in alarms] == ["o-1@3"]
    assert "next version must be 6 but got 3" in alarms[0].content["errorMessage"]["cause"]
    assert alarms[0].tenant_code == "t1"
    assert await service.sync_pending() == 0  # an alarmed command is not retried
    assert len([n for n in notes.got if n.action == "sfn-alarm"]) == 1


async def test_a_command_waits_for_its_stored_previous_version(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    await service.publish_sync(order(0), invoke_context=CTX)
    await service.publish_async(order(1, 2), invoke_context=CTX)
    await service.publish_async(order(2, 3), invoke_context=CTX)
    set_status(aws, service, "o-1@2", "check_version:FAILED")  # v2 stuck: v3 must not pass
    assert await service.sync_item("ORDER#t1", "o-1") == 0
    item = await service.get_item(KEY)
    assert item is not None and item.version == 1


async def test_a_missing_previous_command_does_not_block_the_next(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    await service.publish_async(order(0), invoke_context=CTX)
    await service.publish_async(order(1, 2), invoke_context=CTX)
    aws.dynamodb.delete_item(  # v1 is gone (expired) before it was synced
        TableName=service.tables.command, Key=to_item({"pk": "ORDER#t1", "sk": "o-1@1"})
    )
    assert await service.sync_pending("ORDER#t1", "o-1") == 1
    item = await service.get_item(KEY)
    assert item is not None and item.version == 2


async def test_concurrent_syncs_of_one_item_apply_each_version_once(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    recorder = Recorder()
    service.register_data_sync_handler(recorder)
    for version in range(4):
        await service.publish_async(order(version, version), invoke_context=CTX)
    counts = await asyncio.gather(*(service.sync_item("ORDER#t1", "o-1") for _ in range(4)))
    assert sum(counts) == 4
    item = await service.get_item(KEY)
    assert item is not None and item.version == 4
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1, 2, 3]
    statuses = {c["sk"]: c["status"] for c in raw(aws, service.tables.command)}
    assert set(statuses.values()) == {"finish:FINISHED"}


# -- 6. statuses and notifications -----------------------------------------------------------


async def test_statuses_are_announced(aws: AwsClients, names: AwsNames, clock: FakeClock) -> None:
    notes = Notes()
    service = await make(aws, names, clock)
    service.add_notifier(notes)
    synced = await service.publish_sync(order(0), invoke_context=CTX)
    assert synced is not None and synced.status == "finish:FINISHED"
    queued = await service.publish_async(order(1, 2), invoke_context=CTX)
    assert queued is not None and queued.status == "publish_async:STARTED"
    await service.sync_item("ORDER#t1", "o-1")
    assert notes.statuses() == [("o-1@1", "finish:FINISHED"), ("o-1@2", "finish:FINISHED")]
    note = notes.got[0]
    assert note.action == "command-status" and note.id == "req-1"
    assert note.table == service.tables.command and note.pk == "ORDER#t1"
    assert note.tenant_code == "t1" and note.content["source"] == "seawall"


async def test_failures_are_marked_and_announced(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    notes = Notes()
    service = await make(aws, names, clock, notify=notes)
    failing = Recorder(fail=True)
    service.register_data_sync_handler(failing)
    with pytest.raises(RuntimeError):
        await service.publish_sync(order(0), invoke_context=CTX)
    assert notes.statuses() == [("o-1@1", "publish_sync:FAILED")]
    assert await service.get_latest_item("ORDER#t1", "o-1") is None  # nothing stored
    assert raw(aws, service.tables.data) == []
    await service.publish_async(order(0), invoke_context=CTX)
    with pytest.raises(RuntimeError):
        await service.sync_item("ORDER#t1", "o-1")
    failed = await service.get_command("ORDER#t1", "o-1@1")
    assert failed is not None and failed.status == "sync_data:FAILED"
    assert notes.statuses()[-1] == ("o-1@1", "sync_data:FAILED")
    failing.fail = False  # the stream retries: the failed command syncs now
    assert await service.sync_item("ORDER#t1", "o-1") == 1
    assert notes.statuses()[-1] == ("o-1@1", "finish:FINISHED")


async def test_a_failing_notifier_does_not_fail_the_publish(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    async def broken(note: CommandNotification) -> None:
        raise ConnectionError("SNS down")

    service = await make(aws, names, clock, notify=broken)
    assert await service.publish_sync(order(0), invoke_context=CTX) is not None


class AuditHandler:
    """A DynamoDB data-sync handler whose write joins the projection's transaction."""

    name = "audit"

    def __init__(self, table: str) -> None:
        self.table = table

    async def up(self, cmd: CommandModel, tx: DynamoTx) -> None:
        """Write an audit item keyed by the versioned sk."""
        tx.put(self.table, {"pk": "AUDIT#t1", "sk": cmd.sk, "amount": cmd.attributes["amount"]})

    async def down(self, cmd: CommandModel) -> None:
        """Nothing outside the transaction to undo."""


async def test_handler_writes_commit_with_the_projection(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    service.register_data_sync_handler(AuditHandler(service.tables.data))
    await service.publish_sync(order(0), invoke_context=CTX)
    await service.publish_async(order(1, 2), invoke_context=CTX)
    await service.sync_item("ORDER#t1", "o-1")
    assert aws.calls["dynamodb.TransactWriteItems"] == 2
    audit = [i for i in raw(aws, service.tables.data) if i["pk"] == "AUDIT#t1"]
    assert [(i["sk"], i["amount"]) for i in audit] == [("o-1@1", 100), ("o-1@2", 2)]


# -- 7. TTL ---------------------------------------------------------------------------------


async def test_ttl_is_set_as_the_framework_does_and_enforced(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock, ttl_days={"data": 10, "command": 1, "history": 2})
    now = int(clock.time())
    first = await service.publish_sync(order(0), invoke_context=CTX)
    assert first is not None and first.ttl == now + 10 * DAY
    own = await service.publish_sync(order(1, 2, ttl=now + 30 * DAY), invoke_context=CTX)
    assert own is not None and own.ttl == now + 30 * DAY
    previous = await service.get_command("ORDER#t1", "o-1@1")
    assert previous is not None and previous.ttl == now + DAY
    [history] = await service.get_history("ORDER#t1", "o-1")
    assert history.version == 1 and history.ttl == now + 2 * DAY
    # the `ttl` attribute DynamoDB's TTL deletes by
    ttls = {
        (t, i["sk"]): i["ttl"]
        for t in ("command", "data", "history")
        for i in raw(aws, getattr(service.tables, t))
    }
    assert ttls == {
        ("command", "o-1@1"): now + DAY,
        ("command", "o-1@2"): now + 30 * DAY,
        ("data", "o-1"): now + 30 * DAY,
        ("history", "o-1@1"): now + 2 * DAY,
    }
    clock.advance(DAY + 1)  # expired items DynamoDB has not deleted yet are not read
    assert await service.get_command("ORDER#t1", "o-1@1") is None
    assert len(await service.get_history("ORDER#t1", "o-1")) == 1
    clock.advance(DAY)
    assert await service.get_history("ORDER#t1", "o-1") == []
    assert await service.get_item(DetailKey("ORDER#t1", "o-1@1")) is None
    item = await service.get_item(KEY)
    assert item is not None and item.version == 2
    clock.advance(30 * DAY)
    assert await service.get_item(KEY) is None
    assert (await service.list_items_by_pk("ORDER#t1")).items == []


async def test_previous_command_gone_still_syncs(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock, ttl_days={"command": 1})
    await service.publish_sync(order(0), invoke_context=CTX)
    aws.dynamodb.delete_item(  # DynamoDB's TTL deleted v1
        TableName=service.tables.command, Key=to_item({"pk": "ORDER#t1", "sk": "o-1@1"})
    )
    aws.calls.clear()
    second = await service.publish_sync(order(1, 2), invoke_context=CTX)
    assert second is not None and second.version == 2
    assert aws.calls["dynamodb.TransactWriteItems"] == 2  # retried without the TTL update
    assert [c["sk"] for c in raw(aws, service.tables.command)] == ["o-1@2"]


async def test_ttl_days_per_tenant(aws: AwsClients, names: AwsNames, clock: FakeClock) -> None:
    def days(table: str, tenant: str | None) -> int | None:
        return 3 if (table, tenant) == ("data", "t1") else None

    service = await make(aws, names, clock, ttl_days=days)
    created = await service.publish_sync(order(0), invoke_context=CTX)
    assert created is not None and created.ttl == int(clock.time()) + 3 * DAY


# -- 8. audit per command ----------------------------------------------------------------------


async def test_audit_fields_per_command(aws: AwsClients, names: AwsNames, clock: FakeClock) -> None:
    from seawall.commands import InvokeContext

    other = InvokeContext(source_ip="192.0.2.20", request_id="req-2", claims={"sub": "u-2"})
    service = await make(aws, names, clock)
    await service.publish_sync(order(0), invoke_context=CTX)
    clock.advance(10)
    second = await service.publish_sync(order(1, 2), invoke_context=other, source="POST /o")
    assert second is not None and second.created_by == "u-2" and second.created_ip == "192.0.2.20"
    assert second.source == "POST /o" and second.request_id == "req-2"
    item = await service.get_item(KEY)
    assert item is not None and item.created_by == "u-1" and item.updated_by == "u-2"
    assert (item.updated_at - item.created_at).total_seconds() == 10


# -- 9. partial updates: null overwrites --------------------------------------------------


async def test_a_null_in_a_partial_update_overwrites(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
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
    stored = await service.get_item(KEY)
    assert stored is not None and stored.attributes == cleared.attributes and stored.seq is None
    untouched = await service.publish_partial_update_sync(
        {"pk": "ORDER#t1", "sk": "o-1", "version": 2, "name": "renamed"}, invoke_context=CTX
    )
    assert untouched is not None and untouched.attributes["amount"] == 1
    for field in ("name", "code", "type", "attributes", "isDeleted"):
        with pytest.raises(ValidationError, match="cannot be null"):
            await service.publish_partial_update_sync(
                {"pk": "ORDER#t1", "sk": "o-1", "version": 3, field: None}, invoke_context=CTX
            )


# -- 11. listing ------------------------------------------------------------------------------


async def test_list_items_by_pk_defaults(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    for i in range(12):
        body = order(0, i) | {"sk": f"o-{i:02d}", "isDeleted": i == 0}
        await service.publish_sync(CommandInputModel.model_validate(body), invoke_context=CTX)
    page = await service.list_items_by_pk("ORDER#t1")
    assert len(page.items) == 10 and page.items[0].sk == "o-00" and page.items[0].is_deleted
    assert page.last_sk == "o-09"
    rest = await service.list_items_by_pk("ORDER#t1", start_from_sk=page.last_sk)
    assert [i.sk for i in rest.items] == ["o-10", "o-11"] and rest.last_sk is None
    desc = await service.list_items_by_pk("ORDER#t1", order="desc", limit=2, sk_prefix="o-1")
    assert [i.sk for i in desc.items] == ["o-11", "o-10"] and desc.last_sk is None
    newest = await service.list_items_by_pk("ORDER#t1", order="desc", limit=2)
    assert [i.sk for i in newest.items] == ["o-11", "o-10"] and newest.last_sk == "o-10"
    live = await service.list_items_by_pk("ORDER#t1", include_deleted=False, limit=1)
    assert [i.sk for i in live.items] == ["o-01"]


# -- races -------------------------------------------------------------------------------------


async def test_concurrent_publish_sync_of_one_version_has_one_winner(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    await service.publish_sync(order(0), invoke_context=CTX)
    results = await asyncio.gather(
        *(service.publish_sync(order(1, 10 + i), invoke_context=CTX) for i in range(8)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, CommandModel)]
    assert len(winners) == 1 and winners[0].version == 2
    losers = [r for r in results if not isinstance(r, CommandModel)]
    assert all(isinstance(r, VersionMismatchError) for r in losers), losers
    item = await service.get_item(KEY)
    assert item is not None and item.attributes == winners[0].attributes
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1]


async def test_concurrent_publish_async_of_one_version_has_one_winner(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    await service.publish_async(order(0), invoke_context=CTX)
    results = await asyncio.gather(
        *(service.publish_async(order(1, 10 + i), invoke_context=CTX) for i in range(8)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, CommandModel)]
    assert len(winners) == 1
    assert all(isinstance(r, VersionConflictError) for r in results if r not in winners)


async def test_concurrent_latest_publishes_all_land_in_order(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    service = await make(aws, names, clock)
    await service.publish_sync(order(0), invoke_context=CTX)
    results = await asyncio.gather(
        *(service.publish_sync(order(-1, 10 + i), invoke_context=CTX) for i in range(6))
    )
    assert sorted(r.version for r in results if r is not None) == [2, 3, 4, 5, 6, 7]
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == list(range(1, 7))


# -- API calls per operation ------------------------------------------------------------------


async def test_api_calls_per_operation(aws: AwsClients, names: AwsNames, clock: FakeClock) -> None:
    service = await make(aws, names, clock)

    async def calls(coro: Any) -> dict[str, int]:
        aws.calls.clear()
        await coro
        return dict(aws.calls)

    sync = {"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1}
    assert await calls(service.publish_sync(order(0), invoke_context=CTX)) == sync
    assert await calls(service.publish_sync(order(1, 2), invoke_context=CTX)) == sync
    partial = {"pk": "ORDER#t1", "sk": "o-1", "version": 2, "name": "p"}
    assert await calls(service.publish_partial_update_sync(partial, invoke_context=CTX)) == sync
    assert await calls(service.publish_async(order(3, 4), invoke_context=CTX)) == {
        "dynamodb.GetItem": 1,
        "dynamodb.PutItem": 1,
    }
    assert await calls(service.publish_async(order(-1, 5), invoke_context=CTX)) == {
        "dynamodb.Query": 1,
        "dynamodb.PutItem": 1,
    }
    assert await calls(service.publish_async(order(0) | {"sk": "o-2"}, invoke_context=CTX)) == {
        "dynamodb.PutItem": 1
    }
    partial_async = {"pk": "ORDER#t1", "sk": "o-1", "version": 5, "name": "q"}
    assert await calls(service.publish_partial_update_async(partial_async, invoke_context=CTX)) == {
        "dynamodb.GetItem": 1,
        "dynamodb.PutItem": 1,
    }
    assert await calls(service.sync_item("ORDER#t1", "o-1")) == {
        "dynamodb.GetItem": 1,
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 3,  # versions 4, 5 and 6
    }
    assert await calls(service.get_item(KEY)) == {"dynamodb.GetItem": 1}
    assert await calls(service.get_command("ORDER#t1", "o-1@2")) == {"dynamodb.GetItem": 1}
    assert await calls(service.get_latest_item("ORDER#t1", "o-1")) == {"dynamodb.Query": 1}
    assert await calls(service.get_history("ORDER#t1", "o-1")) == {"dynamodb.Query": 1}
    assert await calls(service.list_items_by_pk("ORDER#t1")) == {"dynamodb.Query": 1}


# -- SNS ---------------------------------------------------------------------------------------


def subscribed_queue(aws: AwsClients, topic_arn: str, name: str) -> str:
    """An SQS queue subscribed to `topic_arn`; its URL."""
    url = aws.sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return str(url)


def received(aws: AwsClients, url: str, count: int) -> list[dict[str, Any]]:
    """The SNS envelopes of `count` messages from the queue."""
    got: list[dict[str, Any]] = []
    for _ in range(10):
        answer = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        got += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        if len(got) >= count:
            break
    return got


async def test_sns_notifier_publishes_the_framework_message(
    aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    topic = aws.sns.create_topic(Name=f"{names.prefix}-command-status")["TopicArn"]
    alarms = aws.sns.create_topic(Name=f"{names.prefix}-alarm")["TopicArn"]
    url = subscribed_queue(aws, topic, f"{names.prefix}-status")
    alarm_url = subscribed_queue(aws, alarms, f"{names.prefix}-alarm")
    service = await make(aws, names, clock)
    service.add_notifier(SnsNotifier(aws, topic, alarm_topic_arn=alarms))
    aws.calls.clear()
    await service.publish_sync(order(0), invoke_context=CTX)
    assert aws.calls["sns.Publish"] == 1 and aws.total_calls() == 3
    await service.publish_async(order(1, 2), invoke_context=CTX)
    await service.sync_item("ORDER#t1", "o-1")
    set_status(aws, service, "o-1@1", "publish_async:STARTED")
    await service.sync_item("ORDER#t1", "o-1")
    envelopes = received(aws, url, 3)
    messages = [json.loads(e["Message"]) for e in envelopes]
    assert messages[0] == {
        "action": "command-status",
        "pk": "ORDER#t1",
        "sk": "o-1@1",
        "table": service.tables.command,
        "id": "req-1",
        "tenantCode": "t1",
        "content": {"status": "finish:FINISHED", "source": "seawall"},
    }
    assert [(m["sk"], m["content"]["status"]) for m in messages] == [
        ("o-1@1", "finish:FINISHED"),
        ("o-1@2", "finish:FINISHED"),
        ("o-1@1", "check_version:FAILED"),
    ]
    assert envelopes[0]["MessageAttributes"]["action"] == {
        "Type": "String",
        "Value": "command-status",
    }
    [alarm] = [json.loads(e["Message"]) for e in received(aws, alarm_url, 1)]
    assert alarm["action"] == "sfn-alarm" and alarm["id"] == "ORDER#t1#o-1@1"
    assert alarm["content"]["errorMessage"]["error"] == "version is not match"


async def test_sns_notifier_serves_the_sql_service(
    aws: AwsClients, names: AwsNames, tmp_path: Any
) -> None:
    topic = aws.sns.create_topic(Name=f"{names.prefix}-command-status")["TopicArn"]
    url = subscribed_queue(aws, topic, f"{names.prefix}-status")
    store = open_store(f"sqlite:///{tmp_path}/store.db")
    await store.migrate()
    service = CommandService(store, notify=SnsNotifier(aws, topic))
    await service.publish_sync(order(0), invoke_context=CTX)
    [message] = [json.loads(e["Message"]) for e in received(aws, url, 1)]
    assert message["table"] == "seawall_commands" and message["sk"] == "o-1@1"
    assert message["content"]["status"] == "finish:FINISHED"
    await store.close()
