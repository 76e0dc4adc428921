"""Helpers for tests that run workers as separate processes against one store."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from seawall.store import Store, open_store
from tests.conftest import require_postgres, unique_schema

WORKER = str(Path(__file__).with_name("worker_process.py"))


def store_url_for(engine: str, tmp_path: Path) -> str:
    """A fresh store URL: a SQLite file under tmp_path or a private PostgreSQL schema."""
    if engine == "sqlite":
        return f"sqlite:///{tmp_path}/queue.db"
    return f"{require_postgres()}?schema={unique_schema()}"


async def prepare(url: str) -> Store:
    """Open and migrate the store and create the effects table with its UNIQUE job id."""
    store = open_store(url)
    await store.migrate()
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (job_id TEXT PRIMARY KEY)")
    return store


def spawn(url: str, mode: str, *args: str) -> subprocess.Popen[str]:
    """Start a worker process."""
    return subprocess.Popen(
        [sys.executable, WORKER, url, mode, *args],
        stdin=subprocess.PIPE if "--barrier" in args else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def start_together(procs: list[subprocess.Popen[str]], timeout: float = 60) -> None:
    """Wait until every `--barrier` process has said ready, then let them all begin at once."""
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout)
        assert line.strip() == "ready", line
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


async def finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, int]:
    """Wait for a worker process to exit cleanly and return its counters."""
    out, err = await asyncio.to_thread(proc.communicate, timeout=timeout)
    assert proc.returncode == 0, err
    counters: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return counters


async def count(store: Store, sql: str) -> int:
    """Run a COUNT query."""
    async with store.read() as tx:
        return int(await tx.fetchval(sql))


async def dispose(store: Store) -> None:
    """Drop a PostgreSQL test schema or close a SQLite store."""
    drop = getattr(store, "drop_schema", None)
    if drop is not None:
        await drop()
    else:
        await store.close()
