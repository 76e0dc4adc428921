"""A fake clock for tests: sleeping advances time at once, so nothing waits for real."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A Clock whose time moves only when something sleeps or a test calls `advance`.

    `sleep` and `sleep_sync` advance the clock by the requested amount and return at once
    (after yielding to the event loop once, so concurrent tasks interleave as they would).
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = float(start)
        self.slept: list[float] = []

    def monotonic(self) -> float:
        """The fake time, in seconds."""
        return self._now

    def time(self) -> float:
        """The fake wall time, in seconds since the epoch (the same number as `monotonic`)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds

    def set(self, now: float) -> None:
        """Jump to an absolute time (forward only)."""
        with self._lock:
            if now < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = now

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, advance the clock, and yield once to the event loop."""
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)

    def sleep_sync(self, seconds: float) -> None:
        """Record the sleep and advance the clock without blocking."""
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        self.advance(seconds)
