"""Backoff schedules: how long to wait before retry number n (full jitter is the default)."""

from __future__ import annotations

import math
import random
from typing import Protocol, runtime_checkable

__all__ = ["Backoff", "Constant", "DecorrelatedJitter", "EqualJitter", "ExponentialJitter"]


@runtime_checkable
class Backoff(Protocol):
    """A schedule: `delay(attempt, previous)` is the wait after failed attempt number `attempt`."""

    def delay(self, attempt: int, previous: float) -> float:
        """Seconds to wait after attempt `attempt` (1-based) failed; `previous` is the last wait."""
        ...


def _check(base: float, cap: float) -> None:
    if base < 0 or cap < 0:
        raise ValueError(f"backoff base and cap must be >= 0 (got base={base}, cap={cap})")
    if cap < base:
        raise ValueError(f"backoff cap ({cap}) must be >= base ({base})")


def _ceiling(base: float, cap: float, attempt: int) -> float:
    """min(cap, base * 2**(attempt-1)) without overflowing for huge attempt numbers."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1 (got {attempt})")
    try:
        return min(cap, math.ldexp(base, attempt - 1))
    except OverflowError:
        return cap


class ExponentialJitter:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]; spreads retries the most."""

    __slots__ = ("_rng", "base", "cap")

    def __init__(self, base: float = 0.1, cap: float = 10.0, *, seed: int | None = None) -> None:
        _check(base, cap)
        self.base = base
        self.cap = cap
        self._rng = random.Random(seed)

    def delay(self, attempt: int, previous: float = 0.0) -> float:
        """A uniformly random wait between 0 and the capped exponential ceiling."""
        return self._rng.uniform(0.0, _ceiling(self.base, self.cap, attempt))

    def __repr__(self) -> str:
        return f"ExponentialJitter(base={self.base}, cap={self.cap})"


class EqualJitter:
    """Equal jitter: half the capped exponential ceiling, plus a random half on top."""

    __slots__ = ("_rng", "base", "cap")

    def __init__(self, base: float = 0.1, cap: float = 10.0, *, seed: int | None = None) -> None:
        _check(base, cap)
        self.base = base
        self.cap = cap
        self._rng = random.Random(seed)

    def delay(self, attempt: int, previous: float = 0.0) -> float:
        """A wait in [ceiling/2, ceiling]: never shorter than half the exponential step."""
        half = _ceiling(self.base, self.cap, attempt) / 2.0
        return half + self._rng.uniform(0.0, half)

    def __repr__(self) -> str:
        return f"EqualJitter(base={self.base}, cap={self.cap})"


class DecorrelatedJitter:
    """Decorrelated jitter: uniform in [base, previous * 3], capped; grows from the last wait."""

    __slots__ = ("_rng", "base", "cap")

    def __init__(self, base: float = 0.1, cap: float = 10.0, *, seed: int | None = None) -> None:
        _check(base, cap)
        self.base = base
        self.cap = cap
        self._rng = random.Random(seed)

    def delay(self, attempt: int, previous: float = 0.0) -> float:
        """min(cap, uniform(base, max(base, previous) * 3))."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1 (got {attempt})")
        upper = max(self.base, previous) * 3.0
        return min(self.cap, self._rng.uniform(self.base, upper))

    def __repr__(self) -> str:
        return f"DecorrelatedJitter(base={self.base}, cap={self.cap})"


class Constant:
    """The same wait every time (useful in tests and for polling)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float = 0.1) -> None:
        if seconds < 0:
            raise ValueError(f"a constant backoff must be >= 0 seconds (got {seconds})")
        self.seconds = seconds

    def delay(self, attempt: int, previous: float = 0.0) -> float:
        """Always `seconds`."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1 (got {attempt})")
        return self.seconds

    def __repr__(self) -> str:
        return f"Constant({self.seconds})"
