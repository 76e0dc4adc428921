"""Which circuit breakers this process runs, and their state shared through the store.

Breaker state lives in each process (a breaker decides on its own calls). So that operators see
and reset breakers of running services from anywhere, each process publishes its breakers to the
`seawall_breakers` table every few seconds (`BreakerSync`), and `request_reset` marks rows there;
the owning process resets its breaker at its next sync. A reset is therefore applied within one
sync interval, not instantly, and the CLI says so.

A breaker built on a fleet store (`seawall.fleet`) has one state for the whole fleet: each process
also publishes it under the instance `fleet:<namespace>` (`fleet_instance` decides which breakers
are shared), and a reset request on that row is applied by whichever process syncs first; its
local reset goes to the fleet store, which closes the breaker in every process at their next
fleet sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from seawall.fleet.breaker_sync import SyncedBreakerStore
from seawall.store import Store

__all__ = [
    "REGISTRY",
    "BreakerInfo",
    "BreakerLike",
    "BreakerRegistry",
    "BreakerSync",
    "fleet_instance",
    "instance_name",
    "list_shared",
    "request_reset",
]

_log = logging.getLogger("seawall.ops.breakers")


class BreakerLike(Protocol):
    """What the registry needs of a breaker (seawall.CircuitBreaker has it)."""

    name: str

    @property
    def state(self) -> Any:
        """The breaker's CircuitState."""
        ...

    def reset(self) -> None:
        """Force the breaker closed."""
        ...


@dataclass(frozen=True, slots=True)
class BreakerInfo:
    """One breaker as operators see it; `instance` names the process that owns it."""

    name: str
    state: str
    failures: int
    instance: str
    updated_at: float | None = None
    reset_pending: bool = False


def _state_name(state: Any) -> str:
    return str(getattr(state, "value", state))


def instance_name() -> str:
    """This process's name in the shared table: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def fleet_instance(breaker: BreakerLike) -> str | None:
    """`fleet:<namespace>` for a breaker whose state a fleet store shares, else None."""
    store = getattr(breaker, "store", None)
    if isinstance(store, SyncedBreakerStore):
        return f"fleet:{store.namespace}"
    return None


class BreakerRegistry:
    """A process-wide set of named breakers (register them where you build them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._breakers: dict[str, BreakerLike] = {}

    def register(self, breaker: BreakerLike) -> BreakerLike:
        """Add (or replace) a breaker under its name; returns it, so it can wrap construction."""
        with self._lock:
            self._breakers[breaker.name] = breaker
        return breaker

    def unregister(self, name: str) -> None:
        """Forget a breaker (no error when unknown)."""
        with self._lock:
            self._breakers.pop(name, None)

    def get(self, name: str) -> BreakerLike | None:
        """The breaker named `name`, or None."""
        with self._lock:
            return self._breakers.get(name)

    def snapshot(self, instance: str | None = None) -> list[BreakerInfo]:
        """Every registered breaker's state, sorted by name."""
        with self._lock:
            items = sorted(self._breakers.items())
        owner = instance or instance_name()
        return [
            BreakerInfo(
                name=name,
                state=_state_name(b.state),
                failures=int(getattr(b, "failure_count", 0)),
                instance=owner,
            )
            for name, b in items
        ]

    def fleet_snapshot(self) -> list[BreakerInfo]:
        """The fleet-wide state of every registered breaker a fleet store shares: the state
        adopted at its last fleet sync and the fleet's failure count."""
        with self._lock:
            items = sorted(self._breakers.items())
        found = []
        for name, b in items:
            fleet = fleet_instance(b)
            if fleet is None:
                continue
            shared = getattr(b, "store", None)
            failures = (
                shared.fleet_failures(name) if isinstance(shared, SyncedBreakerStore) else None
            )
            if failures is None:
                failures = int(getattr(b, "failure_count", 0))
            found.append(BreakerInfo(name, _state_name(b.state), failures, fleet))
        return found

    def states(self) -> list[tuple[str, str]]:
        """(name, state) pairs, for the breaker-state metric."""
        return [(info.name, info.state) for info in self.snapshot()]

    def reset(self, name: str) -> bool:
        """Reset the named breaker here; False when no breaker has that name."""
        breaker = self.get(name)
        if breaker is None:
            return False
        breaker.reset()
        return True


REGISTRY = BreakerRegistry()
"""The process-wide registry the service, the dashboard and metrics read."""


class BreakerSync:
    """Publishes a registry to the store and applies reset requests addressed to it."""

    def __init__(
        self,
        store: Store,
        registry: BreakerRegistry = REGISTRY,
        *,
        instance: str | None = None,
        interval_s: float = 5.0,
        forget_after_s: float = 86_400.0,
    ) -> None:
        self.store = store
        self.registry = registry
        self.instance = instance or instance_name()
        self.interval_s = interval_s
        self.forget_after_s = forget_after_s

    async def sync_once(self) -> int:
        """Apply pending resets for this instance and for the fleet rows of its shared breakers,
        then publish every breaker (and each fleet-wide state); returns resets applied."""
        now = self.store.clock.time()
        fleet = self.registry.fleet_snapshot()
        async with self.store.transaction() as tx:
            pending = await tx.fetchall(
                "SELECT name FROM seawall_breakers WHERE instance = ? "
                "AND reset_requested_at IS NOT NULL",
                (self.instance,),
            )
            for b in fleet:  # a reset of the fleet's row: applied here, sent to the fleet store
                pending += await tx.fetchall(
                    "SELECT name FROM seawall_breakers WHERE name = ? AND instance = ? "
                    "AND reset_requested_at IS NOT NULL",
                    (b.name, b.instance),
                )
        applied = 0
        for name in sorted({str(row["name"]) for row in pending}):
            if self.registry.reset(name):
                applied += 1
                _log.info("breaker reset by operator request", extra={"breaker": name})
        snapshot = [*self.registry.snapshot(self.instance), *self.registry.fleet_snapshot()]
        async with self.store.transaction() as tx:
            await tx.executemany(
                "INSERT INTO seawall_breakers (name, instance, state, failures, updated_at, "
                "reset_requested_at) VALUES (?, ?, ?, ?, ?, NULL) "
                "ON CONFLICT (name, instance) DO UPDATE SET state = excluded.state, "
                "failures = excluded.failures, updated_at = excluded.updated_at, "
                "reset_requested_at = NULL",
                [(b.name, b.instance, b.state, b.failures, now) for b in snapshot],
            )
            await tx.execute(
                "DELETE FROM seawall_breakers WHERE updated_at < ?", (now - self.forget_after_s,)
            )
        return applied

    async def run(self, stop: asyncio.Event) -> None:
        """Sync every `interval_s` until `stop` is set (errors are logged, never fatal)."""
        while not stop.is_set():
            try:
                await self.sync_once()
            except Exception as exc:  # the service must outlive a database hiccup
                _log.warning("breaker sync failed", extra={"error": str(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)


async def list_shared(store: Store) -> list[BreakerInfo]:
    """Every breaker every process published, by name then instance."""
    async with store.read() as tx:
        rows = await tx.fetchall(
            "SELECT name, instance, state, failures, updated_at, reset_requested_at "
            "FROM seawall_breakers ORDER BY name, instance"
        )
    return [
        BreakerInfo(
            name=str(r["name"]),
            state=str(r["state"]),
            failures=int(r["failures"]),
            instance=str(r["instance"]),
            updated_at=float(r["updated_at"]),
            reset_pending=r["reset_requested_at"] is not None,
        )
        for r in rows
    ]


async def request_reset(store: Store, name: str | None) -> int:
    """Ask every process owning breaker `name` (all breakers when None) to reset it; rows marked."""
    now = store.clock.time()
    async with store.transaction() as tx:
        if name is None:
            return await tx.execute("UPDATE seawall_breakers SET reset_requested_at = ?", (now,))
        return await tx.execute(
            "UPDATE seawall_breakers SET reset_requested_at = ? WHERE name = ?", (now, name)
        )
