"""Savepoints: the one home of their SQL keeps or undoes a transaction's tail on every engine."""

from __future__ import annotations

import pytest

from seawall.store import Store
from seawall.store.savepoints import open_savepoint, release_savepoint, rollback_savepoint


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
