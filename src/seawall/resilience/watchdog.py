"""Cheap cancellation of async blocks at a deadline: one loop timer per time slot, not per call.

A per-call `asyncio.timeout` costs several microseconds (a timer handle on the loop's heap per
call). Here a block registers in the bucket of its expiry slot (`RESOLUTION` seconds wide,
rounded up, so cancellation is never early and at most one slot late); one timer per loop fires
for the earliest slot and cancels the tasks still registered in it. Arming and disarming are one
dict insert and one dict pop, so memory holds only the blocks still running (a list per slot with
lazily dropped entries would keep every finished call of the last deadline-span alive).

A named contract across layers: `arm_at` and `finish` are how `seawall.http.transport` ends an
attempt's body read at its deadline without a per-call timer (tests/resilience/test_contracts.py).
"""

from __future__ import annotations

import asyncio
import heapq
import weakref
from asyncio import get_running_loop
from time import monotonic
from typing import Any

from seawall.resilience.errors import AttemptTimeout, DeadlineExceeded

__all__ = ["RESOLUTION", "Guard", "arm", "arm_at", "expired", "finish"]

RESOLUTION = 0.005
"""Width of an expiry slot in seconds: async cancellation lands at most this late."""


Guard = list[Any]
"""An armed block as a small list: [task, bucket, fired]. A list is the cheapest object to make."""

_TASK, _BUCKET, _FIRED = 0, 1, 2
_SLOTS_PER_S = 1.0 / RESOLUTION


class _Watchdog:
    """The per-loop registry of armed blocks, bucketed by expiry slot."""

    __slots__ = ("__weakref__", "buckets", "heap", "loop", "monotonic_loop", "timer", "timer_slot")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # asyncio's own loops read time.monotonic(), so a monotonic expiry can be used as is.
        self.monotonic_loop = type(loop).time is asyncio.BaseEventLoop.time
        self.buckets: dict[int, dict[int, Guard]] = {}
        self.heap: list[int] = []
        self.timer: asyncio.TimerHandle | None = None
        self.timer_slot: int | None = None

    def arm(self, task: asyncio.Task[Any], expires_at: float) -> Guard:
        """Register `task` for cancellation at `expires_at` (on `time.monotonic()`)."""
        if not self.monotonic_loop:
            expires_at = self.loop.time() + (expires_at - monotonic())
        # int() rounds down, + 1 rounds up: the slot ends at or after the expiry, never before.
        slot = int(expires_at * _SLOTS_PER_S) + 1
        bucket = self.buckets.get(slot)
        if bucket is None:
            bucket = self.buckets[slot] = {}
            heapq.heappush(self.heap, slot)
            if self.timer_slot is None or slot < self.timer_slot:
                self._schedule(slot)
        guard = [task, bucket, False]
        bucket[id(guard)] = guard
        return guard

    def _schedule(self, slot: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_slot = slot
        self.timer = self.loop.call_at(slot * RESOLUTION, self._tick)

    def _tick(self) -> None:
        self.timer = None
        self.timer_slot = None
        limit = (self.loop.time() + 1e-6) * _SLOTS_PER_S
        heap = self.heap
        while heap and heap[0] <= limit:
            bucket = self.buckets.pop(heapq.heappop(heap))
            for guard in list(bucket.values()):
                task = guard[_TASK]
                if not task.done():
                    guard[_FIRED] = True
                    task.cancel()
            bucket.clear()
        if heap:
            self._schedule(heap[0])


# Python 3.11's asyncio.current_task is a Python function; reading its registry is faster.
_registry = getattr(asyncio.tasks, "_current_tasks", None)
_current_task: Any = _registry.get if isinstance(_registry, dict) else asyncio.current_task

_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watchdog] = (
    weakref.WeakKeyDictionary()
)
_last: tuple[asyncio.AbstractEventLoop | None, _Watchdog | None] = (None, None)


def arm_at(expires_at: float) -> Guard:
    """Cancel the current task at `expires_at` (`time.monotonic()` time) unless finished first."""
    global _last
    loop = get_running_loop()
    task = _current_task(loop)
    if task is None:
        raise RuntimeError("deadlines on async code need to run inside an asyncio task")
    cached_loop, watchdog = _last
    if cached_loop is not loop or watchdog is None:
        watchdog = _BY_LOOP.get(loop)
        if watchdog is None:
            watchdog = _BY_LOOP[loop] = _Watchdog(loop)
        _last = (loop, watchdog)
    return watchdog.arm(task, expires_at)


def arm(seconds: float, expires_at: float | None = None) -> Guard:
    """Cancel the current task in `seconds` (real time) unless `finish` is called first.

    `expires_at`, when given, is the same instant on `time.monotonic()` (saves a clock read).
    """
    return arm_at(monotonic() + seconds if expires_at is None else expires_at)


def finish(guard: Guard, exc: BaseException | None) -> bool:
    """Disarm `guard`; True when the watchdog cancelled the block and `exc` is that cancellation.

    When it fired, the task's cancel request is withdrawn (`uncancel`), as `asyncio.timeout` does.
    """
    guard[_BUCKET].pop(id(guard), None)
    if not guard[_FIRED]:
        return False
    guard[_TASK].uncancel()
    return isinstance(exc, asyncio.CancelledError)


def expired(by_deadline: bool, budget: float) -> BaseException:
    """The error for a block the watchdog cancelled: the deadline's, or the attempt's own."""
    if by_deadline:
        return DeadlineExceeded("deadline reached during the attempt")
    return AttemptTimeout(budget)
