"""The demo's three phases: wait for the charges, submit refunds, let the webhooks settle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Tick", "run_phases"]

Tick = Callable[[str], Awaitable[tuple[int, int, int]]]
"""Shows progress for a phase; returns (payments recorded, work still busy, charges left)."""


async def run_phases(
    tick: Tick,
    *,
    total: int,
    deadline: float,
    poll_s: float,
    submit_refunds: Callable[[], Awaitable[None]],
    events_settled: Callable[[], bool],
    on_recorded: Callable[[int], None] | None = None,
) -> None:
    """Run the phases until everything settled or `deadline` (monotonic) passed.

    Charging ends once `total` payments are recorded and no charge is left; settling ends after
    three quiet polls in a row (nothing busy, every provider event sent)."""
    while True:
        count, _, charges_left = await tick("charging")
        if on_recorded is not None:
            on_recorded(count)
        if count >= total and charges_left == 0:
            break
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(poll_s)
    await submit_refunds()
    quiet = 0
    while quiet < 3:
        _, busy, _ = await tick("settling")
        quiet = quiet + 1 if busy == 0 and events_settled() else 0
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(poll_s)
    await tick("done")
