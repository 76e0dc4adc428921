"""Engine details beyond the shared contract: SQLite's write paths, PostgreSQL's LISTEN."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from seawall.store import open_store
from seawall.store.postgres import LISTENER_APPLICATION_NAME, PostgresStore
from seawall.store.sqlite import SqliteStore
from tests.conftest import require_postgres, unique_schema


@pytest.mark.parametrize("inline", [True, False])
async def test_sqlite_write_paths_commit_and_roll_back_alike(tmp_path: Path, inline: bool) -> None:
    store = SqliteStore(tmp_path / "w.db", inline_writes=inline)
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")

    async def write(k: int) -> None:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO t (k) VALUES (?)", (k,))
            if k % 3 == 0:
                raise ValueError("rolled back")

    results = await asyncio.gather(*(write(k) for k in range(60)), return_exceptions=True)
    assert sum(isinstance(r, ValueError) for r in results) == 20
    await store.close()
    reopened = open_store(f"sqlite:///{tmp_path}/w.db")
    async with reopened.read() as tx:
        keys = [r["k"] for r in await tx.fetchall("SELECT k FROM t ORDER BY k")]
    assert keys == [k for k in range(60) if k % 3]
    await reopened.close()


async def test_postgres_listener_survives_a_dropped_connection() -> None:
    url = f"{require_postgres()}?schema={unique_schema()}"
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    try:
        assert await store.wait_for_notify("sw_test_chan", 0.2) is False  # starts the listener
        async with await psycopg.AsyncConnection.connect(
            require_postgres(), autocommit=True
        ) as admin:
            assert store.listener_pid is not None
            cur = await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid = %s AND application_name = %s",
                (store.listener_pid, LISTENER_APPLICATION_NAME),
            )
            assert await cur.fetchone() == (True,)
        # Waiters keep working: the listener reconnects and LISTENs again.
        for _ in range(50):
            waiter = asyncio.create_task(store.wait_for_notify("sw_test_chan", 5))
            await asyncio.sleep(0.1)
            async with store.transaction() as tx:
                tx.notify("sw_test_chan")
            if await waiter:
                break
        else:
            pytest.fail("no notification arrived after the listener's connection was dropped")
    finally:
        await store.drop_schema()
