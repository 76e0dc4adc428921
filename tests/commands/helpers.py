"""Shared helpers of the command tests."""

from __future__ import annotations

from seawall.jobs import Worker
from seawall.testing import FakeClock


async def drain(worker: Worker, clock: FakeClock, *, rounds: int = 20) -> int:
    """Run the worker until no job is waiting, moving the clock past retry waits; jobs done."""
    done = 0
    for _ in range(rounds):
        done += await worker.run_until_idle()
        async with worker.store.read() as tx:
            if not await tx.fetchval("SELECT COUNT(*) FROM seawall_jobs WHERE state = 0"):
                return done
        clock.advance(600)
    return done
