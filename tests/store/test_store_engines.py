"""Engine details beyond the shared contract: SQLite's write paths, PostgreSQL's LISTEN."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import psycopg
import pytest

from seawall.store import StoreUnavailableError, open_store
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


_LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO t (k) VALUES (1000)")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


async def _hold_write_lock(path: Path) -> asyncio.subprocess.Process:
    """Start another process that holds the file's write lock until its stdin gets a line."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LOCK_HOLDER,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"locked\n"
    return proc


async def test_sqlite_waits_off_the_loop_for_another_process_lock(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "x.db", busy_timeout_s=10.0)
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    holder = await _hold_write_lock(tmp_path / "x.db")

    async def write(k: int) -> int:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO t (k) VALUES (?)", (k,))
            busy_ms: int = await tx.fetchval("PRAGMA busy_timeout")
        return busy_ms

    loop = asyncio.get_running_loop()
    started = loop.time()
    writer = asyncio.create_task(write(1))
    for _ in range(10):  # the event loop keeps running while the writer waits for the lock
        await asyncio.sleep(0.02)
    assert loop.time() - started < 5.0 and not writer.done()
    assert holder.stdin is not None
    holder.stdin.write(b"go\n")
    await holder.wait()
    assert await asyncio.wait_for(writer, 10) == 10_000  # the full busy timeout is back in place
    async with store.read() as tx:
        assert [r["k"] for r in await tx.fetchall("SELECT k FROM t ORDER BY k")] == [1, 1000]
    # With the lock free again, transactions begin inline and still see the full busy timeout.
    assert await write(2) == 10_000
    await store.close()


async def test_sqlite_lock_held_past_busy_timeout_is_a_named_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "y.db", busy_timeout_s=0.2)
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    holder = await _hold_write_lock(tmp_path / "y.db")
    try:
        with pytest.raises(StoreUnavailableError, match="locked by another writer"):
            async with store.transaction() as tx:
                await tx.execute("INSERT INTO t (k) VALUES (1)")
    finally:
        assert holder.stdin is not None
        holder.stdin.write(b"go\n")
        await holder.wait()
    async with store.transaction() as tx:  # the store recovers once the lock is free
        await tx.execute("INSERT INTO t (k) VALUES (2)")
    async with store.read() as tx:
        assert [r["k"] for r in await tx.fetchall("SELECT k FROM t ORDER BY k")] == [2, 1000]
    await store.close()


async def test_sqlite_group_commit_shares_commits_and_isolates_rollbacks(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "g.db")
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    statements: list[str] = []
    assert store._wconn is not None
    store._wconn.set_trace_callback(statements.append)

    async def write(k: int) -> None:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO t (k) VALUES (?)", (k,))
            await asyncio.sleep(0)  # let the others queue up behind this transaction
            if k % 5 == 0:
                raise ValueError("rolled back")

    results = await asyncio.gather(*(write(k) for k in range(50)), return_exceptions=True)
    assert sum(isinstance(r, ValueError) for r in results) == 10
    commits = statements.count("COMMIT")
    assert 1 <= commits < 25, statements
    async with store.read() as tx:
        keys = [r["k"] for r in await tx.fetchall("SELECT k FROM t ORDER BY k")]
    assert keys == [k for k in range(50) if k % 5]
    await store.close()
