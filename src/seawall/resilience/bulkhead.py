"""Bulkhead: at most `max_concurrent` calls run at once; up to `max_queue` more wait their turn.

One counter serves sync and async callers alike (a threading.Lock guards it). A freed slot is
handed directly to the oldest waiter, so waiting is first-come, first-served. Waiting ends at the
active deadline or after `max_wait_s` (real time), whichever is sooner; then BulkheadFull.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from seawall.resilience import events as ev
from seawall.resilience.deadline import time_left
from seawall.resilience.errors import BulkheadFull
from seawall.resilience.events import ResilienceEvent, ResilienceListener, emit

__all__ = ["Bulkhead"]


class _Waiter:
    """One queued caller: granted under the lock, then woken by its event or future."""

    __slots__ = ("event", "future", "granted", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None,
        future: asyncio.Future[None] | None,
        event: threading.Event | None,
    ) -> None:
        self.loop = loop
        self.future = future
        self.event = event
        self.granted = False

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and self.future is not None:
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Bulkhead:
    """Limits concurrency; extra callers queue (bounded) or are rejected with BulkheadFull."""

    def __init__(
        self,
        max_concurrent: int = 10,
        max_queue: int = 0,
        *,
        max_wait_s: float | None = None,
        name: str = "bulkhead",
        listeners: tuple[ResilienceListener, ...] = (),
    ) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1 (got {max_concurrent})")
        if max_queue < 0:
            raise ValueError(f"max_queue must be >= 0 (got {max_queue})")
        if max_wait_s is not None and max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0 (got {max_wait_s})")
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s
        self.name = name
        self.listeners = listeners
        self._lock = threading.Lock()
        self._active = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def active(self) -> int:
        """Calls running now."""
        return self._active

    @property
    def waiting(self) -> int:
        """Callers queued now."""
        return len(self._waiters)

    def _reject(self, reason: str) -> BulkheadFull:
        err = BulkheadFull(self.name, self.max_concurrent, self.max_queue, reason)
        if self.listeners:
            emit(self.listeners, ResilienceEvent(ev.BULKHEAD_REJECTED, self.name, error=err))
        return err

    def _wait_limit(self) -> float | None:
        left = time_left()
        limit = self.max_wait_s
        if left is not None and (limit is None or left < limit):
            return left
        return limit

    def try_acquire(self) -> bool:
        """Take a slot if one is free now, without waiting."""
        with self._lock:
            if self._active < self.max_concurrent:
                self._active += 1
                return True
            return False

    async def acquire_async(self) -> None:
        """Take a slot, waiting in the queue if allowed; raises BulkheadFull otherwise."""
        with self._lock:
            if self._active < self.max_concurrent:
                self._active += 1
                return
            if len(self._waiters) >= self.max_queue:
                raise self._reject("full")
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop, loop.create_future(), None)
            self._waiters.append(waiter)
        assert waiter.future is not None
        try:
            limit = self._wait_limit()
            if limit is None:
                await waiter.future
            else:
                async with asyncio.timeout(limit):
                    await waiter.future
        except BaseException as exc:
            if self._abandon(waiter):
                if isinstance(exc, TimeoutError):
                    return  # the slot arrived just as the wait ran out: keep it
                self.release()
                raise
            if isinstance(exc, TimeoutError):
                raise self._reject("full and the wait ran out") from None
            raise

    def acquire(self) -> None:
        """Blocking twin of `acquire_async`."""
        with self._lock:
            if self._active < self.max_concurrent:
                self._active += 1
                return
            if len(self._waiters) >= self.max_queue:
                raise self._reject("full")
            waiter = _Waiter(None, None, threading.Event())
            self._waiters.append(waiter)
        assert waiter.event is not None
        if waiter.event.wait(self._wait_limit()):
            return
        if self._abandon(waiter):
            return
        raise self._reject("full and the wait ran out")

    def _abandon(self, waiter: _Waiter) -> bool:
        """Leave the queue; True when a slot was granted meanwhile (the caller now owns it)."""
        with self._lock:
            if waiter.granted:
                return True
            self._waiters.remove(waiter)
            return False

    def release(self) -> None:
        """Give the slot back: to the oldest waiter if there is one."""
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True
            else:
                self._active -= 1
                return
        waiter.wake()
