"""A retry budget for the whole fleet: every process's calls earn retries for all of them.

Deposits stay what they are locally, a lock-free counter: a `Syncer` thread sends the count
every `sync_interval_s`, and a retry sends the pending count along with its withdrawal. A retry
is already a failure path, so its withdrawal is one round trip to the shared store (Redis or
PostgreSQL), which keeps the budget exact across the fleet: `ratio` of the fleet's calls plus
`min_retries_per_s` for the whole fleet.

While the store is unreachable each process uses a local `RetryBudget` (the same ratio over its
own calls, `min_retries_per_s / processes` as its floor): retries stay capped, never refused
outright because the store blinked. The store logs and counts the outage once and is tried
again every `retry_s`.
"""

from __future__ import annotations

import itertools
import threading

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.fleet.limits_store import LimitsStore, StoreDown
from seawall.fleet.syncer import Syncer
from seawall.resilience.budget import RetryBudget

__all__ = ["SharedRetryBudget"]


class SharedRetryBudget(RetryBudget):
    """A `RetryBudget` (for `Retry(budget=...)`) shared by every process using `key` in `store`.

    `background=False` leaves sending deposits to `sync_now()` and to withdrawals (tests).
    """

    def __init__(
        self,
        store: LimitsStore,
        key: str,
        ratio: float = 0.2,
        min_retries_per_s: float = 3.0,
        *,
        max_tokens: float = 100.0,
        processes: int = 1,
        sync_interval_s: float = 0.5,
        background: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(ratio, min_retries_per_s, max_tokens=max_tokens, clock=clock)
        if processes < 1:
            raise ValueError(f"processes must be >= 1 (got {processes})")
        self.store = store
        self.key = key
        self.processes = processes
        self.local = RetryBudget(
            ratio, min_retries_per_s / processes, max_tokens=max_tokens, clock=clock
        )
        """Decides while the store is down, over this process's own calls."""
        self._pending = itertools.count()
        self._sent = 0
        self._carry = 0
        self._send_lock = threading.Lock()
        self._syncer = Syncer(self.sync_now, sync_interval_s, f"seawall-budget-{key}")
        if background:
            self._syncer.start()

    def deposit(self) -> None:
        """Record one call (first attempts only); lock-free, no round trip."""
        next(self._pending)
        self.local.deposit()

    def try_withdraw(self) -> bool:
        """Take one retry token from the fleet's budget (the local one while the store is down)."""
        granted, _ = self._trip(want=1)
        if granted is None:
            return self.local.try_withdraw()
        return granted > 0

    def available(self) -> float:
        """Retries the fleet could make right now (this process's, while the store is down)."""
        _, left = self._trip(want=0)
        return self.local.available() if left is None else left

    def sync_now(self) -> bool:
        """Send the calls counted since the last trip; False when the store is down."""
        granted, _ = self._trip(want=0)
        return granted is not None

    def close(self) -> None:
        """Send what is pending and stop the sync thread (the store stays open)."""
        self._syncer.stop()
        self.sync_now()

    def _trip(self, want: int) -> tuple[int | None, float | None]:
        with self._send_lock:
            drawn = next(self._pending)  # count has no peek: subtract our own draws
            deposits = drawn - self._sent + self._carry
            self._sent = drawn + 1
            self._carry = 0
        try:
            granted, left = self.store.budget(
                self.key, self.ratio, self.min_retries_per_s, self.max_tokens, deposits, want
            )
        except StoreDown:
            with self._send_lock:
                self._carry += deposits
            return None, None
        return granted, left

    def __repr__(self) -> str:
        return (
            f"SharedRetryBudget(key={self.key!r}, ratio={self.ratio}, "
            f"min_retries_per_s={self.min_retries_per_s})"
        )
