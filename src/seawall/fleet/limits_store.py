"""What every shared limits store does, whatever its server: guard each round trip, fall back.

A limits store answers two questions for the fleet, each in one round trip: "take up to `want`
tokens from this bucket" (`take`, for `SharedRateLimiter`) and "add these calls and take a retry
token" (`budget`, for `SharedRetryBudget`). When the server does not answer, the call raises
`StoreDown`, `Fallback` logs one warning per outage and counts it, and for `retry_s` every call
raises `StoreDown` at once (no connection attempt per call); then one call tries the server
again, and the first answer rejoins the fleet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from seawall.clock import Clock
from seawall.fleet.fallback import Fallback

__all__ = ["LimitsStore", "StoreDown"]

T = TypeVar("T")

_log = logging.getLogger("seawall.fleet.limits")


class StoreDown(Exception):
    """The shared store did not answer (or is not tried again yet): decide locally."""


class LimitsStore:
    """Token buckets and retry budgets shared through a server; subclasses make the trips."""

    def __init__(
        self,
        *,
        namespace: str,
        retry_s: float,
        on_fallback: Callable[[str], None] | None,
        clock: Clock,
    ) -> None:
        if retry_s <= 0:
            raise ValueError(f"retry_s must be > 0 (got {retry_s})")
        self.namespace = namespace
        self.retry_s = retry_s
        self.clock = clock
        self.fallback = Fallback(_log, "limits", namespace, on_fallback)
        self._retry_at = 0.0
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """False while the server cannot be reached (limits then decide locally)."""
        return self.fallback.available

    @property
    def fallbacks(self) -> int:
        """How many times this store lost its server."""
        return self.fallback.count

    def take(
        self, key: str, rate: float, burst: float, want: int, may_wait_s: float
    ) -> tuple[int, float]:
        """Take up to `want` tokens from the fleet's bucket `key` (refilled at `rate` per second
        up to `burst`). With none left, reserve one if it frees up within `may_wait_s` (negative:
        any wait). Returns (tokens granted, seconds to wait before using the first)."""
        return self._guard(lambda: self._take(key, rate, burst, want, may_wait_s))

    def budget(
        self,
        key: str,
        ratio: float,
        floor_rate: float,
        max_tokens: float,
        deposits: int,
        want: int,
    ) -> tuple[int, float]:
        """Add `deposits` calls to the fleet's retry budget `key` and take up to `want` (0 or 1)
        retry tokens. Returns (tokens granted, retries still available)."""
        return self._guard(lambda: self._budget(key, ratio, floor_rate, max_tokens, deposits, want))

    def close(self) -> None:
        """Close the server connection."""
        raise NotImplementedError

    def _take(
        self, key: str, rate: float, burst: float, want: int, may_wait_s: float
    ) -> tuple[int, float]:
        raise NotImplementedError

    def _budget(
        self,
        key: str,
        ratio: float,
        floor_rate: float,
        max_tokens: float,
        deposits: int,
        want: int,
    ) -> tuple[int, float]:
        raise NotImplementedError

    def _guard(self, trip: Callable[[], T]) -> T:
        if not self.fallback.available and self.clock.monotonic() < self._retry_at:
            raise StoreDown(self.namespace)
        try:
            answer = trip()
        except Exception as exc:
            with self._lock:
                self._retry_at = self.clock.monotonic() + self.retry_s
            self.fallback.lost(exc)
            raise StoreDown(self.namespace) from exc
        self.fallback.back()
        return answer
