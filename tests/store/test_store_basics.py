"""The storage contract on both engines: transactions, rollback, group commit, migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from seawall.store import SchemaTooNewError, Store, StoreUnavailableError, open_store
from seawall.store.sqlite import SqliteStore


async def _make_table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")


async def test_commit_and_read_back(store: Store) -> None:
    await _make_table(store)
    async with store.transaction() as tx:
        assert await tx.execute("INSERT INTO kv (k, v) VALUES (?, ?)", ("a", 1)) == 1
        await tx.executemany("INSERT INTO kv (k, v) VALUES (?, ?)", [("b", 2), ("c", 3)])
    async with store.read() as tx:
        rows = await tx.fetchall("SELECT k, v FROM kv ORDER BY k")
        assert rows == [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "c", "v": 3}]
        assert await tx.fetchval("SELECT SUM(v) FROM kv") == 6
        assert await tx.fetchone("SELECT v FROM kv WHERE k = ?", ("zz",)) is None


async def test_rollback_on_error_leaves_nothing(store: Store) -> None:
    await _make_table(store)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO kv (k, v) VALUES (?, ?)", ("gone", 1))
            raise RuntimeError("boom")
    async with store.read() as tx:
        assert await tx.fetchval("SELECT COUNT(*) FROM kv") == 0


async def test_concurrent_transactions_are_isolated_and_all_commit(store: Store) -> None:
    await _make_table(store)

    async def write(i: int) -> None:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO kv (k, v) VALUES (?, ?)", (f"k{i}", i))
            if i % 7 == 0:
                raise ValueError("rolled back")

    results = await asyncio.gather(*(write(i) for i in range(100)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, ValueError)]
    assert len(failed) == len([i for i in range(100) if i % 7 == 0])
    async with store.read() as tx:
        keys = {r["k"] for r in await tx.fetchall("SELECT k FROM kv")}
    assert keys == {f"k{i}" for i in range(100) if i % 7 != 0}


async def test_integrity_error_rolls_back_only_that_transaction(store: Store) -> None:
    await _make_table(store)
    async with store.transaction() as tx:
        await tx.execute("INSERT INTO kv (k, v) VALUES ('dup', 1)")

    async def dup() -> None:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO kv (k, v) VALUES ('other', 2)")
            await tx.execute("INSERT INTO kv (k, v) VALUES ('dup', 3)")

    async def fine() -> None:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO kv (k, v) VALUES ('fine', 4)")

    results = await asyncio.gather(dup(), fine(), return_exceptions=True)
    assert isinstance(results[0], Exception) and results[1] is None
    async with store.read() as tx:
        keys = {r["k"] for r in await tx.fetchall("SELECT k FROM kv")}
    assert keys == {"dup", "fine"}


async def test_migrate_is_idempotent_and_refuses_newer_schema(store: Store) -> None:
    assert await store.migrate() == []
    have, known = await store.schema_status()
    assert have == known
    async with store.transaction() as tx:
        await tx.execute(
            "INSERT INTO seawall_schema_version (version, name, applied_at) VALUES (?, ?, ?)",
            (known + 100, "future", 0.0),
        )
    with pytest.raises(SchemaTooNewError, match="upgrade seawall"):
        await store.migrate()


async def test_notify_wakes_a_waiter(store: Store) -> None:
    waiter = asyncio.create_task(store.wait_for_notify("jobs", 5.0))
    await asyncio.sleep(0.05)
    async with store.transaction() as tx:
        tx.notify("jobs")
    assert await waiter is True
    assert await store.wait_for_notify("jobs", 0.01) is False


async def test_sqlite_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/missing/dir/x.db")
    with pytest.raises(StoreUnavailableError, match="does not exist"):
        await store.ping()


async def test_postgres_unreachable_is_a_clear_error() -> None:
    store = open_store("postgresql://postgres@127.0.0.1:1/nowhere", connect_timeout_s=1.0)
    with pytest.raises(StoreUnavailableError, match="cannot connect to PostgreSQL"):
        await store.ping()
    await store.close()


def test_bad_url_says_what_to_use() -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        open_store("mysql://x")


async def test_sqlite_durable_defaults(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "d.db")
    async with store.read() as tx:
        assert await tx.fetchval("PRAGMA journal_mode") == "wal"
    async with store.transaction() as tx:
        assert await tx.fetchval("PRAGMA synchronous") == 2  # FULL
        assert await tx.fetchval("PRAGMA temp_store") == 2  # statement journals in memory
    await store.close()
