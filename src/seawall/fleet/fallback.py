"""Fallback bookkeeping of a shared store: one warning per outage, a count, a hook, rejoining."""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["Fallback"]


class Fallback:
    """Whether a shared store's server answers, and what to do when that changes.

    `lost(exc)` marks the server unreachable: the first call of an outage logs one warning, adds
    one to `count` and calls `on_fallback(namespace)` (pass
    `get_metrics().shared_store_fallback` to feed `seawall_shared_store_fallbacks`); the caller
    then decides locally. `back()` after a successful round trip logs the rejoining once.
    """

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        namespace: str,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        self.logger = logger
        self.what = what
        self.namespace = namespace
        self.on_fallback = on_fallback
        self.available = True
        self.count = 0

    def lost(self, exc: BaseException) -> None:
        """The server did not answer: fall back to local state (logged and counted once)."""
        if not self.available:
            return
        self.available = False
        self.count += 1
        self.logger.warning(
            "shared %s store unreachable (%s): local state decides until it returns",
            self.what,
            exc,
            extra={"namespace": self.namespace},
        )
        if self.on_fallback is not None:
            try:
                self.on_fallback(self.namespace)
            except Exception:
                self.logger.exception("on_fallback hook failed")

    def back(self) -> None:
        """A round trip succeeded: follow the fleet's state again (logged once per outage)."""
        if self.available:
            return
        self.available = True
        self.logger.warning(
            "shared %s store reachable again: following the fleet's state",
            self.what,
            extra={"namespace": self.namespace},
        )
