"""The periodic retention clean-up loop that `serve` and `worker` run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from seawall.clock import Clock

__all__ = ["Cleanup", "run_retention"]

log = logging.getLogger("seawall.jobs.worker")  # the worker's logger, as before

Cleanup = Callable[[float], Awaitable[int]]
"""One clean-up step: given the retention in seconds, delete what is older; return how many."""


async def run_retention(
    cleanups: Mapping[str, Cleanup],
    *,
    retention_s: float,
    interval_s: float,
    stop: asyncio.Event,
    clock: Clock,
) -> None:
    """Run each clean-up (name -> step) with `retention_s` now and then every `interval_s`.

    Counts are logged at INFO; a failing step is logged and tried again next round, never
    ending the loop. Returns as soon as `stop` is set (at once when `retention_s` is 0, which
    disables retention).
    """
    if not retention_s >= 0 or not interval_s > 0:
        raise ValueError(
            f"retention_s must be >= 0 and interval_s > 0 (got {retention_s}, {interval_s})"
        )
    if retention_s == 0:
        log.info("retention clean-up disabled (retention_s = 0)")
        return
    while not stop.is_set():
        counts: list[str] = []
        for name, cleanup in cleanups.items():
            try:
                counts.append(f"{await cleanup(retention_s)} {name}")
            except Exception:
                log.exception(
                    "retention clean-up of %s failed; trying again in %g s", name, interval_s
                )
        if counts:
            log.info(
                "retention clean-up deleted %s older than %g s", ", ".join(counts), retention_s
            )
        if not stop.is_set():
            await _sleep_unless_stopped(clock, interval_s, stop)


async def _sleep_unless_stopped(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    """Sleep on `clock` for `seconds`, waking early when `stop` is set."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)
