"""A daemon thread that runs one sync function every interval, or sooner when woken."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Syncer"]

_log = logging.getLogger("seawall.fleet")


class Syncer:
    """Calls `sync()` every `interval_s` on its own thread; `wake()` asks for a sync now.

    After each sync it waits a tenth of the interval at least, so a burst of wake-ups (a burst of
    failures) is sent as one round trip, not one per wake-up. An exception never kills the thread:
    it is logged and the next round tries again.
    """

    def __init__(self, sync: Callable[[], object], interval_s: float, name: str) -> None:
        if interval_s <= 0:
            raise ValueError(f"sync_interval_s must be > 0 (got {interval_s})")
        self.sync = sync
        self.interval_s = interval_s
        self.name = name
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Sync as soon as the thread is free."""
        self._wake.set()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread and wait for it (at most `timeout_s`)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.sync()
            except Exception:
                _log.exception("%s: sync failed", self.name)
            self._stop.wait(self.interval_s / 10)
