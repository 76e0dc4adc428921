"""Retry budget: a token bucket that caps retries at a share of traffic, so failures cannot storm.

Every call deposits `ratio` of a token (0.2 means retries may add at most 20% load); a retry
withdraws one whole token. A floor of `min_retries_per_s` tokens per second keeps a quiet service
able to retry at all. Deposits are lock-free (an atomic counter); only withdrawals take a lock.
"""

from __future__ import annotations

import itertools
import threading

from seawall.clock import SYSTEM_CLOCK, Clock

__all__ = ["RetryBudget"]


class RetryBudget:
    """Allows retries up to `ratio` of calls plus `min_retries_per_s`; otherwise fails fast."""

    __slots__ = (
        "_calls",
        "_floor",
        "_floor_at",
        "_lock",
        "_seen",
        "_tokens",
        "clock",
        "max_tokens",
        "min_retries_per_s",
        "ratio",
    )

    def __init__(
        self,
        ratio: float = 0.2,
        min_retries_per_s: float = 3.0,
        *,
        max_tokens: float = 100.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not 0.0 <= ratio <= 1000.0:
            raise ValueError(f"retry budget ratio must be between 0 and 1000 (got {ratio})")
        if min_retries_per_s < 0:
            raise ValueError(f"min_retries_per_s must be >= 0 (got {min_retries_per_s})")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1 (got {max_tokens})")
        self.ratio = ratio
        self.min_retries_per_s = min_retries_per_s
        self.max_tokens = max_tokens
        self.clock = clock
        self._calls = itertools.count()
        self._seen = 0
        self._tokens = 0.0
        self._floor = min_retries_per_s
        self._floor_at = clock.monotonic()
        self._lock = threading.Lock()

    def deposit(self) -> None:
        """Record one call (first attempts only); lock-free and cheap."""
        next(self._calls)

    def try_withdraw(self) -> bool:
        """Take one token for a retry; False (and nothing taken) when the budget is empty."""
        with self._lock:
            self._refill()
            if self._floor >= 1.0:
                self._floor -= 1.0
                return True
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def available(self) -> float:
        """Retries that could be made right now (floor plus earned tokens)."""
        with self._lock:
            self._refill()
            return self._floor + self._tokens

    def _refill(self) -> None:
        # itertools.count has no peek: read it by drawing one and subtracting our own draws.
        drawn = next(self._calls)
        calls = drawn - self._seen
        self._seen = drawn + 1
        self._tokens = min(self.max_tokens, self._tokens + calls * self.ratio)
        now = self.clock.monotonic()
        elapsed = now - self._floor_at
        self._floor_at = now
        if elapsed > 0:
            cap = max(1.0, self.min_retries_per_s)
            self._floor = min(cap, self._floor + elapsed * self.min_retries_per_s)

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio}, min_retries_per_s={self.min_retries_per_s})"
