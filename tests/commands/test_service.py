"""CommandService contract on SQLite and PostgreSQL: version rules, projection, queries, races."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from seawall.commands import (
    VERSION_FIRST,
    VERSION_LATEST,
    CommandError,
    CommandInputModel,
    CommandNotFoundError,
    CommandService,
    DetailKey,
    InvokeContext,
    VersionConflictError,
    VersionMismatchError,
    deep_merge,
)
from seawall.store import Store
from seawall.testing import FakeClock

CTX = InvokeContext(
    headers={"x-tenant-code": "t1"},
    source_ip="192.0.2.10",
    request_id="req-1",
    claims={"sub": "user-1"},
    source="POST /orders",
)
OTHER = InvokeContext(source_ip="192.0.2.20", request_id="req-2", claims={"sub": "user-2"})


def order(version: int, *, sk: str = "o-1", **attributes: Any) -> CommandInputModel:
    """An order command based on `version`."""
    return CommandInputModel(
        pk="ORDER#t1",
        sk=sk,
        code=sk,
        name=f"order {sk}",
        version=version,
        type="ORDER",
        attributes=attributes or {"amount": 100},
    )


async def test_version_first_creates_and_then_conflicts(store: Store, clock: FakeClock) -> None:
    service = CommandService(store)
    created = await service.publish_sync(order(VERSION_FIRST), invoke_context=CTX)
    assert created is not None and created.version == 1 and created.status == "finish:FINISHED"
    assert created.sk == "o-1@1" and created.id == "ORDER#t1#o-1" and created.tenant_code == "t1"
    assert created.created_by == "user-1" and created.created_ip == "192.0.2.10"
    assert created.request_id == "req-1" and created.source == "POST /orders"
    assert created.created_at == datetime.fromtimestamp(clock.time(), tz=UTC)
    with pytest.raises(VersionMismatchError) as info:
        await service.publish_sync(order(VERSION_FIRST, amount=5), invoke_context=CTX)
    assert (info.value.expected, info.value.actual, info.value.status_code) == (0, 1, 400)
    assert not isinstance(info.value, VersionConflictError)


async def test_version_must_be_the_latest(store: Store, clock: FakeClock) -> None:
    service = CommandService(store)
    await service.publish_sync(order(0), invoke_context=CTX)
    clock.advance(10)
    second = await service.publish_sync(order(1, amount=200), invoke_context=OTHER)
    assert second is not None and second.version == 2
    # audit: each command records its own request; the data row keeps the first creation
    assert second.created_by == "user-2" and second.updated_by == "user-2"
    assert second.created_ip == second.updated_ip == "192.0.2.20"
    assert second.created_at == second.updated_at
    item = await service.get_item(DetailKey("ORDER#t1", "o-1"))
    assert item is not None and item.created_by == "user-1" and item.updated_by == "user-2"
    assert (item.updated_at - item.created_at).total_seconds() == pytest.approx(10)
    for stale in (1, 3, 7):
        with pytest.raises(VersionMismatchError) as info:
            await service.publish_sync(order(stale, amount=300), invoke_context=CTX)
        assert (info.value.expected, info.value.actual) == (stale, 2)
    with pytest.raises(VersionMismatchError) as missing:
        await service.publish_sync(order(1, sk="nope"), invoke_context=CTX)
    assert (missing.value.expected, missing.value.actual) == (1, 0)


async def test_version_latest_builds_on_top(store: Store) -> None:
    service = CommandService(store)
    first = await service.publish_sync(order(VERSION_LATEST), invoke_context=CTX)
    assert first is not None and first.version == 1  # -1 on nothing creates
    again = await service.publish_sync(order(VERSION_LATEST, amount=2), invoke_context=CTX)
    assert again is not None and again.version == 2


async def test_unchanged_command_returns_none(store: Store) -> None:
    service = CommandService(store)
    await service.publish_sync(order(0, amount=1, nested={"a": 1, "b": 2}), invoke_context=CTX)
    same = order(1, amount=1, nested={"b": 2, "a": 1})
    assert await service.publish_sync(same, invoke_context=OTHER) is None
    assert (
        await service.publish_sync(order(-1, amount=1, nested={"a": 1, "b": 2}), invoke_context=CTX)
        is None
    )
    latest = await service.get_latest_item("ORDER#t1", "o-1")
    assert latest is not None and latest.version == 1


async def test_unchanged_compares_as_json(store: Store) -> None:
    service = CommandService(store)
    await service.publish_sync(order(0, flag=1, items=[1, 2]), invoke_context=CTX)
    # the same JSON (a tuple is stored as a list): no new version
    assert await service.publish_sync(order(1, flag=1, items=(1, 2)), invoke_context=CTX) is None
    # equal in Python but not in JSON (1 == True == 1.0): each is a change
    for version, flag in ((1, True), (2, 1.0), (3, 1)):
        changed = await service.publish_sync(
            order(version, flag=flag, items=[1, 2]), invoke_context=CTX
        )
        assert changed is not None and changed.version == version + 1
    latest = await service.get_latest_item("ORDER#t1", "o-1")
    assert latest is not None and latest.attributes["flag"] == 1
    assert type(latest.attributes["flag"]) is int


async def test_projection_history_and_queries(store: Store) -> None:
    service = CommandService(store)
    await service.publish_sync(order(0, amount=1), invoke_context=CTX)
    await service.publish_sync(order(1, amount=2), invoke_context=CTX)
    await service.publish_sync(order(0, sk="o-2"), invoke_context=CTX)
    await service.publish_sync(order(0, sk="x-9"), invoke_context=CTX)
    item = await service.get_item(DetailKey("ORDER#t1", "o-1"))
    assert item is not None and item.version == 2 and item.attributes == {"amount": 2}
    assert item.cpk == "ORDER#t1" and item.csk == "o-1@2"
    old = await service.get_item({"pk": "ORDER#t1", "sk": "o-1@1"})
    assert old is not None and old.attributes == {"amount": 1}
    current = await service.get_item({"pk": "ORDER#t1", "sk": "o-1@2"})
    assert current is not None and current.attributes == {"amount": 2}
    history = await service.get_history("ORDER#t1", "o-1")
    assert [h.version for h in history] == [1]
    command = await service.get_command("ORDER#t1", "o-1", 1)
    assert command is not None and command.attributes == {"amount": 1}
    by_sk = await service.get_command("ORDER#t1", "o-1@2")
    assert by_sk is not None and by_sk.sk == "o-1@2" and by_sk.attributes == {"amount": 2}
    assert await service.get_item(DetailKey("ORDER#t1", "nope")) is None
    prefixed = await service.list_items_by_pk("ORDER#t1", sk_prefix="o-")
    assert [i.sk for i in prefixed.items] == ["o-1", "o-2"] and prefixed.last_sk is None
    page1 = await service.list_items_by_pk("ORDER#t1", limit=2)
    assert [i.sk for i in page1.items] == ["o-1", "o-2"] and page1.last_sk == "o-2"
    page2 = await service.list_items_by_pk("ORDER#t1", limit=2, start_from_sk=page1.last_sk)
    assert [i.sk for i in page2.items] == ["x-9"] and page2.last_sk is None
    backwards = await service.list_items_by_pk("ORDER#t1", order="desc")
    assert [i.sk for i in backwards.items] == ["x-9", "o-2", "o-1"]
    with pytest.raises(CommandError):
        await service.list_items_by_pk("ORDER#t1", limit=0)


async def test_soft_delete(store: Store) -> None:
    service = CommandService(store)
    await service.publish_sync(order(0), invoke_context=CTX)
    deleted = order(1).model_copy(update={"is_deleted": True})
    result = await service.publish_sync(deleted, invoke_context=CTX)
    assert result is not None and result.is_deleted and result.version == 2
    item = await service.get_item(DetailKey("ORDER#t1", "o-1"))
    assert item is not None and item.is_deleted
    # the framework's listItemsByPk returns soft-deleted rows too
    listed = await service.list_items_by_pk("ORDER#t1")
    assert [i.sk for i in listed.items] == ["o-1"] and listed.items[0].is_deleted
    assert (await service.list_items_by_pk("ORDER#t1", include_deleted=False)).items == []
    assert len(await service.get_history("ORDER#t1", "o-1")) == 1


async def test_partial_update_deep_merges(store: Store) -> None:
    service = CommandService(store)
    await service.publish_sync(
        order(0, amount=1, address={"city": "Tokyo", "zip": "100"}, tags=["a"]),
        invoke_context=CTX,
    )
    merged = await service.publish_partial_update_sync(
        {
            "pk": "ORDER#t1",
            "sk": "o-1",
            "version": 1,
            "name": "renamed",
            "attributes": {"address": {"zip": "200"}, "tags": ["b"]},
        },
        invoke_context=CTX,
    )
    assert merged is not None and merged.version == 2 and merged.name == "renamed"
    assert merged.attributes == {
        "amount": 1,
        "address": {"city": "Tokyo", "zip": "200"},
        "tags": ["b"],
    }
    assert merged.code == "o-1" and merged.type == "ORDER"
    with pytest.raises(VersionMismatchError) as stale:
        await service.publish_partial_update_sync(
            {"pk": "ORDER#t1", "sk": "o-1", "version": 1, "name": "x"}, invoke_context=CTX
        )
    assert stale.value.status_code == 400
    latest = await service.publish_partial_update_sync(
        {"pk": "ORDER#t1", "sk": "o-1", "version": 2, "isDeleted": True}, invoke_context=CTX
    )
    assert latest is not None and latest.version == 3 and latest.is_deleted
    assert (
        await service.publish_partial_update_sync(
            {"pk": "ORDER#t1", "sk": "o-1", "version": 3, "name": "renamed"}, invoke_context=CTX
        )
        is None
    )
    with pytest.raises(CommandNotFoundError) as missing:
        await service.publish_partial_update_sync(
            {"pk": "ORDER#t1", "sk": "ghost", "version": 1}, invoke_context=CTX
        )
    assert missing.value.status_code == 400


def test_deep_merge() -> None:
    assert deep_merge(
        {"a": {"b": 1, "c": 2}, "l": [1], "k": 1}, {"a": {"c": 3}, "l": [2], "n": None, "k": None}
    ) == {"a": {"b": 1, "c": 3}, "l": [2], "n": None, "k": None}


async def test_twenty_concurrent_publishes_on_one_version_one_wins(store: Store) -> None:
    service = CommandService(store)
    await service.publish_sync(order(0), invoke_context=CTX)
    results = await asyncio.gather(
        *(service.publish_sync(order(1, amount=i), invoke_context=CTX) for i in range(20)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    # a race lost on the insert is 409; one that read the winner's data first is 400
    losers = [r for r in results if isinstance(r, VersionMismatchError)]
    assert len(winners) == 1 and len(losers) == 19, results
    assert all(c.expected == 1 and c.actual == 2 for c in losers)
    assert all(
        c.status_code == (409 if isinstance(c, VersionConflictError) else 400) for c in losers
    )
    assert [h.version for h in await service.get_history("ORDER#t1", "o-1")] == [1]
    # twenty concurrent creates of a new item: one wins as well
    creates = await asyncio.gather(
        *(
            service.publish_sync(order(0, sk="new", amount=i), invoke_context=CTX)
            for i in range(20)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in creates) == 1
    assert sum(isinstance(r, VersionMismatchError) for r in creates) == 19


async def test_concurrent_latest_publishes_all_land_in_sequence(store: Store) -> None:
    service = CommandService(store)
    results = await asyncio.gather(
        *(
            service.publish_sync(order(VERSION_LATEST, amount=i), invoke_context=CTX)
            for i in range(10)
        )
    )
    assert sorted(r.version for r in results if r is not None) == list(range(1, 11))
    item = await service.get_item(DetailKey("ORDER#t1", "o-1"))
    assert item is not None and item.version == 10
