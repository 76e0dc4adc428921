"""Circuit breakers shared by every process of a fleet through PostgreSQL (the `postgres` extra).

`PostgresBreakerStore` is the `SyncedBreakerStore` for users without Redis (see
`seawall.fleet.breaker_sync` for the design). The server side is `postgres_breakers.sql`: three
tables (the shared state, the probe slots with their expiry, the ratio mode's window) and one
PL/pgSQL function that does for one breaker what the Redis store's Lua scripts do, with server
time from `clock_timestamp()` and the breaker's row locked `FOR UPDATE`. A sync is one statement
for all breakers (the function called over a JSON array, in name order so concurrent syncs lock
rows in the same order); a probe request is one call.

The connection is psycopg 3's synchronous one, owned by the store (see `PgLink`): every round
trip except the probe request runs on the store's own thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from seawall.fleet.breaker_sync import Reply, SyncedBreakerStore
from seawall.fleet.pg_link import PgLink
from seawall.resilience.breaker_store import CircuitState

__all__ = ["PostgresBreakerStore"]

_SYNC = """
SELECT r.o_extra, r.o_state, r.o_gen, r.o_age
FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(item, i),
     LATERAL seawall_fleet_breaker(%s, e.item ->> 'name', 'sync', e.item -> 'cfg') AS r
ORDER BY e.i
"""
_PROBE = "SELECT * FROM seawall_fleet_breaker(%s, %s, 'probe', %s::jsonb)"


class PostgresBreakerStore(SyncedBreakerStore):
    """Breaker state shared through PostgreSQL (`psycopg>=3.2`, the `postgres` extra).

    `PostgresBreakerStore("postgresql://app@db/app", namespace="payments")`, then
    `CircuitBreaker(..., store=store, name="psp")` in every process. The tables are created on
    first connection (idempotent; `?schema=name` in the URL picks their schema). Settings as in
    `SharedBreakerStore`; `timeout_s` bounds each statement.
    """

    def __init__(
        self,
        url: str = "postgresql://127.0.0.1:5432/postgres",
        *,
        namespace: str = "seawall",
        sync_interval_s: float = 0.1,
        probe_ttl_s: float = 30.0,
        timeout_s: float = 1.0,
        background: bool = True,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(
            namespace=namespace,
            sync_interval_s=sync_interval_s,
            probe_ttl_s=probe_ttl_s,
            key_ttl_s=0,  # rows stay: one small row per breaker name
            background=background,
            on_fallback=on_fallback,
        )
        self.link = PgLink(url, ("postgres_breakers.sql",), timeout_s)

    def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> list[Reply]:
        items = json.dumps([{"name": name, "cfg": cfg} for name, cfg in batch])
        return [_reply(row) for row in self.link.rows(_SYNC, (items, self.namespace))]

    def _ask_probe(self, name: str, cfg: dict[str, Any]) -> Reply:
        (row,) = self.link.rows(_PROBE, (self.namespace, name, json.dumps(cfg)))
        return _reply(row)

    def _close_backend(self) -> None:
        self.link.drop()


def _reply(row: tuple[Any, ...]) -> Reply:
    return (int(row[0]), CircuitState(row[1]), int(row[2]), float(row[3]))
