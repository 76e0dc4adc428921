"""The last outbound calls this process made, for the dashboard (a small in-memory ring)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["RecentCall", "RecentCalls"]


@dataclass(frozen=True, slots=True)
class RecentCall:
    """One outbound call as the dashboard shows it."""

    at: float
    method: str
    host: str
    path: str
    status: int | None
    outcome: str
    duration_ms: float
    attempts: int


class RecentCalls:
    """A bounded, thread-safe ring of recent calls (per process: the dashboard says so)."""

    def __init__(self, size: int = 50) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1 (got {size})")
        self._lock = threading.Lock()
        self._calls: deque[RecentCall] = deque(maxlen=size)

    def add(self, call: RecentCall) -> None:
        """Remember one call (the oldest is forgotten when full)."""
        with self._lock:
            self._calls.append(call)

    def newest_first(self) -> list[RecentCall]:
        """The remembered calls, newest first."""
        with self._lock:
            return list(reversed(self._calls))
