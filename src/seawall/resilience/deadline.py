"""Deadlines: a total time budget carried in a contextvar, so nested calls see the time left.

The budget is measured on the injected Clock (`monotonic()`), so with a FakeClock the time left
shrinks only when something sleeps on that clock or a test advances it. Cancelling an *async*
block when its budget runs out needs a real timer: `async with Deadline(...)` (and every Pipeline
attempt) arms one on the event loop for the time left *as measured on the injected clock at entry*.
With a FakeClock, a coroutine that hangs on real I/O is therefore still cancelled after that many
real seconds, while fake sleeps only move the fake clock. Sync code cannot be interrupted; it reads
`time_left()` and passes it down as its own timeouts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType

from seawall.clock import SYSTEM_CLOCK, Clock, SystemClock
from seawall.resilience.errors import DeadlineExceeded
from seawall.resilience.watchdog import Guard, arm, finish

__all__ = ["Deadline", "enter_deadline", "left_in", "now_fn", "time_left"]


Active = tuple[float, Callable[[], float]]
"""What the contextvar holds while a deadline is active: (expiry, the clock's monotonic)."""


def now_fn(clock: Clock) -> Callable[[], float]:
    """The fastest way to read `clock.monotonic()`: `time.monotonic` itself for the system clock."""
    return time.monotonic if type(clock) is SystemClock else clock.monotonic


ACTIVE_DEADLINE: ContextVar[Active | None] = ContextVar("seawall_deadline", default=None)
"""The deadline active in this context, as (expiry, monotonic reader), or None.

A named contract for the resilience fast paths (Pipeline, Retry): they read and set it directly
instead of calling `time_left()` and `enter_deadline()`. Everyone else uses those functions."""


def time_left() -> float | None:
    """Seconds left in the active deadline (>= 0), or None when no deadline is active."""
    active = ACTIVE_DEADLINE.get()
    if active is None:
        return None
    left = active[0] - active[1]()
    return left if left > 0.0 else 0.0


def left_in(active: Active) -> float:
    """Seconds left in `active` (never negative)."""
    left = active[0] - active[1]()
    return left if left > 0.0 else 0.0


def enter_deadline(seconds: float, now: Callable[[], float]) -> tuple[Token[Active | None], float]:
    """Activate a deadline `seconds` from now (or the outer one, if sooner); returns (token, left).

    `now` is the clock's monotonic reader (see `now_fn`). Reset the token when the block ends.
    """
    outer = ACTIVE_DEADLINE.get()
    if outer is not None:
        outer_left = outer[0] - outer[1]()
        if outer_left < seconds:
            seconds = outer_left if outer_left > 0.0 else 0.0
    return ACTIVE_DEADLINE.set((now() + seconds, now)), seconds


def exit_deadline(token: Token[Active | None]) -> None:
    """Restore the deadline that was active before `enter_deadline`."""
    ACTIVE_DEADLINE.reset(token)


def check_seconds(seconds: float, what: str = "deadline") -> float:
    """Validate a positive, finite number of seconds or raise ValueError naming `what`."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive, finite number of seconds (got {seconds})")
    return float(seconds)


class Deadline:
    """A total time budget of `seconds`, measured on `clock`.

    Use `with Deadline(5):` (sync: time_left() visible to nested calls) or `async with Deadline(5):`
    (also cancels the block at expiry, raising DeadlineExceeded). Nested deadlines take the minimum.
    One instance may be entered by one block at a time (like `asyncio.timeout`); a Pipeline given a
    Deadline only reads its `seconds`, so sharing it between pipelines and tasks is fine.
    """

    __slots__ = ("_guard", "_token", "clock", "seconds")

    def __init__(self, seconds: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.seconds = check_seconds(seconds)
        self.clock = clock
        self._token: Token[Active | None] | None = None
        self._guard: Guard | None = None

    def __repr__(self) -> str:
        return f"Deadline({self.seconds})"

    def time_left(self) -> float | None:
        """Seconds left in the currently active deadline (this one or a sooner outer one)."""
        return time_left()

    def __enter__(self) -> Deadline:
        if self._token is not None:
            raise RuntimeError("this Deadline is already active; create one per block")
        self._token, _ = enter_deadline(self.seconds, now_fn(self.clock))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            ACTIVE_DEADLINE.reset(token)

    async def __aenter__(self) -> Deadline:
        if self._token is not None:
            raise RuntimeError("this Deadline is already active; create one per block")
        self._token, left = enter_deadline(self.seconds, now_fn(self.clock))
        self._guard = arm(left)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        guard, self._guard = self._guard, None
        if token is not None:
            ACTIVE_DEADLINE.reset(token)
        if guard is not None and finish(guard, exc):
            raise DeadlineExceeded(f"deadline of {self.seconds}s exceeded") from None
