"""Savepoints: the one home of their SQL keeps or undoes a transaction's tail on every engine."""

from __future__ import annotations

from typing import Any

import pytest

from seawall.store import Store, Tx
from seawall.store.savepoints import (
    LazySavepointTx,
    open_savepoint,
    release_savepoint,
    rollback_savepoint,
)
from tests.store.pgtrace import traced


async def _rows(store: Store) -> list[int]:
    async with store.read() as tx:
        return [int(r["n"]) for r in await tx.fetchall("SELECT n FROM sp_probe ORDER BY n")]


async def test_rollback_undoes_only_the_tail_and_release_keeps_it(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE sp_probe (n INTEGER)")
    async with store.transaction() as tx:
        await tx.execute("INSERT INTO sp_probe (n) VALUES (1)")
        await open_savepoint(tx, "probe")
        await tx.execute("INSERT INTO sp_probe (n) VALUES (2)")
        await rollback_savepoint(tx, "probe")
        await open_savepoint(tx, "probe")
        await tx.execute("INSERT INTO sp_probe (n) VALUES (3)")
        await release_savepoint(tx, "probe")
        await open_savepoint(tx, "kept_open")
        await tx.execute("INSERT INTO sp_probe (n) VALUES (4)")
        await rollback_savepoint(tx, "kept_open", release=False)
        await tx.execute("INSERT INTO sp_probe (n) VALUES (5)")
    assert await _rows(store) == [1, 3, 5]


@pytest.mark.parametrize("name", ["", "Upper", "x; DROP TABLE y", "1abc", "a" * 64])
async def test_names_that_are_not_plain_identifiers_are_refused(store: Store, name: str) -> None:
    async with store.transaction() as tx:
        with pytest.raises(ValueError, match="savepoint name"):
            await open_savepoint(tx, name)


RIDE = "INSERT INTO sp_ride (n) VALUES (?)"


async def _ride_table(store: Store) -> None:
    seq = "SERIAL" if store.engine == "postgresql" else "INTEGER"
    async with store.transaction() as tx:
        await tx.execute(f"CREATE TABLE sp_ride (seq {seq} PRIMARY KEY, n INTEGER NOT NULL)")


async def _ridden(store: Store) -> list[int]:
    """The values of sp_ride in the order they were written."""
    async with store.read() as tx:
        return [int(r["n"]) for r in await tx.fetchall("SELECT n FROM sp_ride ORDER BY seq")]


async def _first(unit: LazySavepointTx, how: str) -> Any:
    """The unit's first statement, run through `how`; riders must not have run before it."""
    if how == "execute":
        return await unit.execute(RIDE, (1,))
    if how == "executemany":
        return await unit.executemany(RIDE, [(1,)])
    count = "SELECT COUNT(*) AS c FROM sp_ride WHERE n >= ?"
    if how == "fetchone":
        row = await unit.fetchone(count, (100,))
        return None if row is None else row["c"]
    if how == "fetchall":
        return (await unit.fetchall(count, (100,)))[0]["c"]
    return await unit.fetchval(count, (100,))


@pytest.mark.parametrize("joined", [True, False])
@pytest.mark.parametrize("how", ["execute", "executemany", "fetchone", "fetchall", "fetchval"])
async def test_statements_ride_right_after_the_first_and_roll_back_with_the_unit(
    store: Store, joined: bool, how: str
) -> None:
    await _ride_table(store)
    async with store.transaction() as tx:
        unit = LazySavepointTx(tx, "unit", joined=joined)
        unit.ride_with_first(RIDE, (100,))
        unit.ride_with_first(RIDE, (101,))
        first = await _first(unit, how)
        assert first == (1 if how in ("execute", "executemany") else 0), "riders come after"
        with pytest.raises(RuntimeError, match="before the unit's first statement"):
            unit.ride_with_first(RIDE, (102,))
        await unit.execute(RIDE, (2,))
        assert unit.opened
        undone = LazySavepointTx(tx, "undone", joined=joined)
        undone.ride_with_first(RIDE, (200,))
        await undone.execute(RIDE, (3,))
        await rollback_savepoint(tx, "undone")
        await tx.execute(RIDE, (4,))
    written = [100, 101, 2, 4]  # 200 and 3 were rolled back with their unit
    if how in ("execute", "executemany"):
        written = [1, *written]
    assert await _ridden(store) == written


async def _sent_by_first(tx: Tx, joined: bool) -> list[str]:
    unit = LazySavepointTx(tx, "unit", joined=joined)
    unit.ride_with_first(RIDE, (100,))
    unit.ride_with_first(RIDE, (101,))
    with traced(tx._conn) as sent:  # type: ignore[attr-defined]
        await unit.execute(RIDE, (1,))
    return sent


async def test_riders_share_the_savepoints_round_trip_on_postgresql_when_joined(
    store: Store,
) -> None:
    if store.engine != "postgresql":
        pytest.skip("round trips are PostgreSQL's; the rider order is checked on every engine")
    await _ride_table(store)
    async with store.transaction() as tx:
        assert await _sent_by_first(tx, joined=True) == [
            "BEGIN; SAVEPOINT unit; INSERT INTO sp_ride (n) VALUES (1); "
            "INSERT INTO sp_ride (n) VALUES (100); INSERT INTO sp_ride (n) VALUES (101)"
        ]
    async with store.transaction() as tx:
        sent = await _sent_by_first(tx, joined=False)
        assert sent == ["BEGIN; SAVEPOINT unit", "<sync>", "<sync>", "<sync>"]
    assert await _ridden(store) == [1, 100, 101] * 2
