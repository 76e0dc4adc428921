"""Several worker processes drain 20,000 jobs from one store, each job exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from seawall.jobs import Queue
from tests.jobs.processes import (
    count,
    dispose,
    finish,
    prepare,
    spawn,
    start_together,
    store_url_for,
)

JOBS = 20_000

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("engine", "processes"), [("sqlite", 2), ("postgresql", 4)])
async def test_processes_drain_every_job_exactly_once(
    engine: str, processes: int, tmp_path: Path
) -> None:
    url = store_url_for(engine, tmp_path)
    store = await prepare(url)
    try:
        queue = Queue(store)
        for start in range(0, JOBS, 5000):
            await queue.enqueue_many("crash", [{"n": n} for n in range(start, start + 5000)])
        procs = [
            spawn(url, "idle", "--concurrency", "32", "--batch", "128", "--barrier")
            for _ in range(processes)
        ]
        await start_together(procs)  # one fast starter must not drain everything alone
        results = await asyncio.gather(*(finish(p, timeout=120) for p in procs))
        processed = [r["processed"] for r in results]
        assert sum(processed) == JOBS
        assert all(r["lease_lost"] == 0 for r in results)
        assert sum(1 for n in processed if n > 0) >= 2  # the work really was shared
        assert await count(store, "SELECT COUNT(*) FROM effects") == JOBS
        (stats,) = await queue.stats()
        assert (stats.done, stats.ready, stats.in_flight, stats.dead) == (JOBS, 0, 0, 0)
    finally:
        await dispose(store)
