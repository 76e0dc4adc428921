"""Jobs claimed ahead of the runners keep their attempts when the worker dies (SIGKILL), while a
poison job that kills its worker on every start still reaches the dead-letter queue."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from seawall.jobs import Queue
from tests.jobs.processes import count, dispose, finish, prepare, spawn, store_url_for

pytestmark = pytest.mark.slow

CONCURRENCY = 4


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_a_crash_loop_with_claims_ahead_dead_letters_only_started_jobs(
    engine: str, tmp_path: Path
) -> None:
    url = store_url_for(engine, tmp_path)
    store = await prepare(url)
    starts = tmp_path / "starts.log"
    starts.touch()
    try:
        # One receive each: any job whose receive a crash used up is dead-lettered at its next
        # claim, so a dead job that no handler started would show at once.
        queue = Queue(store, default_max_receives=1)
        await queue.enqueue_many("crash", [{"n": n} for n in range(60)])
        args = ("--block", "--sleep", "0.3", "--visibility", "1", "--starts", str(starts))
        args += ("--concurrency", str(CONCURRENCY), "--batch", "8")
        ahead_seen = 0
        for _ in range(5):
            before = len(starts.read_text().split())
            proc = spawn(url, "forever", *args)
            deadline = time.monotonic() + 30
            # Kill while handlers run and more jobs wait in the worker's buffer (leased beyond
            # its busy runners).
            while (
                len(starts.read_text().split()) < before + CONCURRENCY
                or (await queue.stats())[0].in_flight <= CONCURRENCY
            ):
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "the worker never claimed ahead"
                await asyncio.sleep(0.01)
            ahead_seen += 1
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
        await finish(spawn(url, "drain", *args), timeout=90)

        started = set(starts.read_text().split())
        dead = [letter.id for letter in await queue.dead_letters("crash", limit=100)]
        done = await count(store, "SELECT COUNT(*) FROM seawall_jobs WHERE state = 1")
        assert ahead_seen == 5
        assert dead, "the kills hit running handlers too (their one receive was used)"
        assert set(dead) <= started, "a job no handler started was dead-lettered"
        assert done + len(dead) == 60
        assert await count(store, "SELECT COUNT(*) FROM effects") == done
    finally:
        await dispose(store)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_a_job_that_kills_its_worker_is_dead_lettered(engine: str, tmp_path: Path) -> None:
    url = store_url_for(engine, tmp_path)
    store = await prepare(url)
    starts = tmp_path / "starts.log"
    starts.touch()
    try:
        queue = Queue(store, default_max_receives=3)
        ids = await queue.enqueue_many("crash", [{"n": n} for n in range(20)])
        args = ("--block", "--sleep", "0.01", "--visibility", "0.5", "--starts", str(starts))
        args += ("--concurrency", str(CONCURRENCY), "--poison", "7")
        for _ in range(6):
            proc = spawn(url, "drain", *args)
            await asyncio.to_thread(proc.communicate, timeout=60)
            if proc.returncode == 0:
                break
            assert proc.returncode == -signal.SIGKILL
        else:
            pytest.fail("the poison job kept killing workers")
        letters = await queue.dead_letters("crash")
        assert ids[7] in {letter.id for letter in letters}
        tries = starts.read_text().split()
        # Jobs running beside the poison one died with it; each dead job started three times.
        assert all(letter.receives == tries.count(letter.id) == 3 for letter in letters)
        assert await count(store, "SELECT COUNT(*) FROM effects") == 20 - len(letters)
    finally:
        await dispose(store)
