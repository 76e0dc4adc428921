"""Rate limiter: a token bucket that waits for a token within the deadline, or rejects at once."""

from __future__ import annotations

import threading

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.resilience import events as ev
from seawall.resilience.deadline import time_left
from seawall.resilience.errors import RateLimited
from seawall.resilience.events import ResilienceEvent, ResilienceListener, emit

__all__ = ["RateLimiter"]


class RateLimiter:
    """`rate` calls per second on average, bursts up to `burst`; waits at most `max_wait_s`.

    A caller that must wait reserves its token first (the bucket may go negative), so waiting
    callers are served in arrival order and never oversubscribe the rate. Waiting uses the clock
    (a FakeClock makes it instant) and never goes past the active deadline.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        max_wait_s: float | None = 0.0,
        name: str = "rate_limiter",
        clock: Clock = SYSTEM_CLOCK,
        listeners: tuple[ResilienceListener, ...] = (),
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 calls per second (got {rate})")
        burst = float(burst) if burst is not None else max(1.0, float(rate))
        if burst < 1:
            raise ValueError(f"burst must be >= 1 (got {burst})")
        if max_wait_s is not None and max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0 or None (got {max_wait_s})")
        self.rate = float(rate)
        self.burst = burst
        self.max_wait_s = max_wait_s
        self.name = name
        self.clock = clock
        self.listeners = listeners
        self._tokens = burst
        self._at = clock.monotonic()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; returns how long to wait before using it, or raises RateLimited."""
        with self._lock:
            now = self.clock.monotonic()
            tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if tokens >= 1.0:
                self._tokens = tokens - 1.0
                return 0.0
            wait = (1.0 - tokens) / self.rate
            limit = self.max_wait_s
            left = time_left()
            if left is not None and (limit is None or left < limit):
                limit = left
            if limit is not None and wait > limit:
                self._tokens = tokens
                err = RateLimited(self.name, wait)
            else:
                self._tokens = tokens - 1.0
                return wait
        if self.listeners:
            emit(self.listeners, ResilienceEvent(ev.RATE_LIMITED, self.name, error=err))
        raise err

    async def acquire_async(self) -> None:
        """Take a token, sleeping on the clock for it if allowed."""
        wait = self.reserve()
        if wait > 0.0:
            await self.clock.sleep(wait)

    def acquire(self) -> None:
        """Blocking twin of `acquire_async`."""
        wait = self.reserve()
        if wait > 0.0:
            self.clock.sleep_sync(wait)
