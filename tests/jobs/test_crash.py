"""Crash test: worker processes killed with SIGKILL mid-batch lose no job and duplicate none."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest

from seawall.jobs import Queue
from tests.jobs.processes import count, dispose, finish, prepare, spawn, store_url_for

JOBS = 600
KILLS = 4
VISIBILITY = 1.0

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_sigkill_mid_batch_loses_nothing_and_duplicates_nothing(
    engine: str, tmp_path: Path
) -> None:
    url = store_url_for(engine, tmp_path)
    store = await prepare(url)
    try:
        queue = Queue(store, default_max_receives=KILLS + 6)
        await queue.enqueue_many("crash", [{"n": n} for n in range(JOBS)])
        args = ("--sleep", "0.004", "--visibility", str(VISIBILITY), "--concurrency", "8")
        args += ("--batch", "32")
        for _ in range(KILLS):
            before = await count(store, "SELECT COUNT(*) FROM effects")
            proc = spawn(url, "forever", *args)
            deadline = time.monotonic() + 30
            while await count(store, "SELECT COUNT(*) FROM effects") < before + 40:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "worker made no progress"
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
        killed_at = time.monotonic()
        assert await count(store, "SELECT COUNT(*) FROM seawall_jobs WHERE state = 0") > 0
        await finish(spawn(url, "drain", *args), timeout=90)
        drained_in = time.monotonic() - killed_at

        done = await count(store, "SELECT COUNT(*) FROM seawall_jobs WHERE state = 1")
        dead = await count(store, "SELECT COUNT(*) FROM seawall_jobs WHERE state = 2")
        effects = await count(store, "SELECT COUNT(*) FROM effects")
        joined = await count(
            store,
            "SELECT COUNT(*) FROM effects e JOIN seawall_jobs j ON j.id = e.job_id "
            "WHERE j.state = 1",
        )
        assert done + dead == JOBS  # none lost, none stuck
        assert effects == done == joined  # every done job has exactly one effect
        async with store.read() as tx:
            rows = await tx.fetchall("SELECT receives, errors FROM seawall_jobs")
        # A duplicate delivery would have hit the UNIQUE constraint and left an error behind.
        assert all(json.loads(r["errors"]) == [] for r in rows)
        assert max(r["receives"] for r in rows) >= 2  # kills really hit leased jobs
        assert drained_in < 60
    finally:
        await dispose(store)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_sigterm_finishes_in_flight_and_releases_the_rest(
    engine: str, tmp_path: Path
) -> None:
    url = store_url_for(engine, tmp_path)
    store = await prepare(url)
    try:
        queue = Queue(store)
        await queue.enqueue_many("crash", [{"n": n} for n in range(40)])
        args = ("--sleep", "0.5", "--concurrency", "4", "--batch", "8", "--group", "1")
        proc = spawn(url, "signals", *args)
        assert proc.stdout is not None
        assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "ready"
        deadline = time.monotonic() + 20
        while (await queue.stats())[0].in_flight < 4:
            assert time.monotonic() < deadline, "the worker claimed nothing"
            await asyncio.sleep(0.02)
        # Slow handlers (0.5 s): besides the 4 running, at most half the runners' worth of jobs
        # is leased ahead (with no receive counted: released below, they show 0 receives).
        assert (await queue.stats())[0].in_flight <= 4 + 2
        proc.send_signal(signal.SIGTERM)
        counters = await finish(proc, timeout=30)
        (stats,) = await queue.stats()
        # Running handlers finished and were acked; nothing else was held.
        assert counters["processed"] == stats.done >= 4
        assert (stats.in_flight, stats.ready) == (0, 40 - stats.done)
        assert await count(store, "SELECT COUNT(*) FROM effects") == stats.done
        assert await count(store, "SELECT MAX(receives) FROM seawall_jobs WHERE state = 0") == 0
    finally:
        await dispose(store)
