"""A rate limit for the whole fleet: tokens leased in small batches from one shared bucket.

A global limit needs a decision per call, so the cost is amortised: a round trip takes up to
`batch` tokens from the fleet's bucket (a `LimitsStore`: Redis, PostgreSQL or DynamoDB) and the
process spends them locally, one lock and no round trip each. Leased tokens are already out of the
bucket, so the only slack is what processes hold: over any window of `t` seconds the fleet
admits at most `burst + rate * t + processes * (batch - 1)` calls. The default batch keeps that
slack near a tenth of a second of traffic: `rate * 0.1 / processes`, between 1 and 50.

While the store is unreachable each process limits itself to `rate / processes` (and
`burst / processes`) with a local `RateLimiter`: the fleet keeps about its rate, and never fails
closed. The store logs and counts the outage once and is tried again every `retry_s`.

Synchronous callers (`reserve`, `acquire`) make the round trip on their own thread, once per
`batch` calls. Async callers (`acquire_async`: Pipeline.execute_async, ApiClient) must not block
their event loop, so their first call starts a refill thread: whenever the lease falls to
`low_water` tokens (default `batch // 2`) the thread takes another batch (never a future token),
and the caller finds tokens leased. What remains on the caller's thread: the first call, a call
that finds the lease empty (traffic faster than one round trip per `batch - low_water` calls, or
a bucket with no token left, where a caller that may wait reserves its future token), and calls
while the store is down (local decisions, no round trip). Prefetching adds `low_water` tokens per
process to the slack: at most `burst + rate * t + processes * (batch + low_water - 1)`. While
the lease stays low (a dry bucket) the thread tries again every 50 ms at most.
"""

from __future__ import annotations

import math
import threading

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.fleet.limits_store import LimitsStore, StoreDown
from seawall.fleet.syncer import Syncer
from seawall.resilience import events as ev
from seawall.resilience.deadline import time_left
from seawall.resilience.errors import RateLimited
from seawall.resilience.events import ResilienceEvent, ResilienceListener, emit
from seawall.resilience.ratelimit import RateLimiter

__all__ = ["SharedRateLimiter"]


class SharedRateLimiter(RateLimiter):
    """`rate` calls per second for every process that shares `key` in `store`, bursts up to
    `burst`; a `RateLimiter` wherever one is accepted (Pipeline, ApiClient, ...).

    `processes` is how many processes are expected to share the limit (it sizes the default
    `batch` and the local share used while the store is down).
    """

    def __init__(
        self,
        store: LimitsStore,
        key: str,
        rate: float,
        burst: float | None = None,
        *,
        processes: int = 1,
        batch: int | None = None,
        low_water: int | None = None,
        max_wait_s: float | None = 0.0,
        name: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        listeners: tuple[ResilienceListener, ...] = (),
    ) -> None:
        super().__init__(
            rate, burst, max_wait_s=max_wait_s, name=name or key, clock=clock, listeners=listeners
        )
        if processes < 1:
            raise ValueError(f"processes must be >= 1 (got {processes})")
        if batch is None:
            batch = max(1, min(50, math.floor(self.rate * 0.1 / processes)))
        if batch < 1:
            raise ValueError(f"batch must be >= 1 (got {batch})")
        self.store = store
        self.key = key
        self.processes = processes
        self.batch = batch
        self.local = RateLimiter(
            self.rate / processes,
            max(1.0, self.burst / processes),
            max_wait_s=max_wait_s,
            name=self.name,
            clock=clock,
            listeners=listeners,
        )
        """Decides while the store is down: this process's share of the fleet's rate."""
        self.low_water = batch // 2 if low_water is None else low_water
        if not 0 <= self.low_water < batch:
            raise ValueError(f"low_water must be in [0, batch) (got {self.low_water})")
        self._leased = 0
        self._lease_lock = threading.Lock()
        self._refiller = Syncer(self._refill, 0.05, f"seawall-limit-{key}")
        self._prefetch = False

    async def acquire_async(self) -> None:
        """Take a token without a round trip on the event loop while the lease lasts (the
        refill thread keeps it above `low_water`), sleeping on the clock if allowed."""
        if not self._prefetch:
            self._prefetch = True
            self._refiller.start()
        await super().acquire_async()

    def close(self) -> None:
        """Stop the refill thread (leased tokens stay usable)."""
        self._refiller.stop()

    def _refill(self) -> None:
        """On the refill thread: top the lease up to a batch once it falls to `low_water`."""
        with self._lease_lock:
            if self._leased > self.low_water:
                return
        try:
            granted, _wait = self.store.take(self.key, self.rate, self.burst, self.batch, 0.0)
        except StoreDown:
            return
        if granted:
            with self._lease_lock:
                self._leased += granted

    def reserve(self) -> float:
        """Take a token (leased, or from the fleet's bucket); returns how long to wait before
        using it, or raises RateLimited."""
        with self._lease_lock:
            if self._leased > 0:
                self._leased -= 1
                low = self._leased <= self.low_water
            else:
                low = None
        if low is not None:
            if low and self._prefetch:
                self._refiller.wake()
            return 0.0
        limit = self.max_wait_s
        left = time_left()
        if left is not None and (limit is None or left < limit):
            limit = left
        try:
            granted, wait = self.store.take(
                self.key, self.rate, self.burst, self.batch, -1.0 if limit is None else limit
            )
        except StoreDown:
            return self.local.reserve()
        if granted == 0:
            err = RateLimited(self.name, wait)
            if self.listeners:
                emit(self.listeners, ResilienceEvent(ev.RATE_LIMITED, self.name, error=err))
            raise err
        if granted > 1:
            with self._lease_lock:
                self._leased += granted - 1
        if self._prefetch:
            self._refiller.wake()
        return wait

    def __repr__(self) -> str:
        return (
            f"SharedRateLimiter(key={self.key!r}, rate={self.rate}, burst={self.burst}, "
            f"batch={self.batch})"
        )
