"""Operators see a breaker shared by a fleet store as one fleet-wide row, and reset it for the
whole fleet (on each fleet store's real server, with a real SQLite operator store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from seawall import CircuitBreaker, CircuitState
from seawall.ops.breakers import BreakerRegistry, BreakerSync, list_shared, request_reset
from seawall.store import Store, open_store
from seawall.testing import FakeClock
from tests.fleet.conftest import Backend


@pytest_asyncio.fixture
async def ops_store(tmp_path: Path) -> AsyncIterator[Store]:
    """The operator store the processes publish their breakers to (a SQLite file)."""
    store = open_store(f"sqlite:///{tmp_path}/ops.db", clock=FakeClock())
    await store.migrate()
    yield store
    await store.close()


async def test_list_shows_the_fleet_row_and_reset_closes_every_process(
    backend: Backend, namespace: str, ops_store: Store
) -> None:
    clock = FakeClock()
    a_store, b_store = backend.breakers(namespace), backend.breakers(namespace)
    a = CircuitBreaker(3, 10_000, name="psp", clock=clock, store=a_store)
    b = CircuitBreaker(3, 10_000, name="psp", clock=clock, store=b_store)
    a_registry, b_registry = BreakerRegistry(), BreakerRegistry()
    a_registry.register(a)
    b_registry.register(b)
    a_sync = BreakerSync(ops_store, a_registry, instance="host-a:1")
    b_sync = BreakerSync(ops_store, b_registry, instance="host-b:2")

    a.on_error(a.acquire(), RuntimeError("down"))
    b.on_error(b.acquire(), RuntimeError("down"))
    assert a_store.sync_now() and b_store.sync_now()
    await a_sync.sync_once()
    await b_sync.sync_once()
    rows = {b.instance: b for b in await list_shared(ops_store)}
    fleet = rows[f"fleet:{namespace}"]
    assert (fleet.state, fleet.failures) == ("CLOSED", 2)  # the fleet's count, not one process's
    assert rows["host-a:1"].failures == 1

    b.trip()
    assert b_store.sync_now() and a_store.sync_now()
    await a_sync.sync_once()
    fleet = {b.instance: b for b in await list_shared(ops_store)}[f"fleet:{namespace}"]
    assert fleet.state == "OPEN"

    # `seawall breakers reset psp`: the first process to sync applies it, the fleet store
    # spreads it to every process.
    assert await request_reset(ops_store, "psp") == 3
    assert await a_sync.sync_once() == 1
    assert a.state is CircuitState.CLOSED
    assert a_store.sync_now() and b_store.sync_now()
    assert b.state is CircuitState.CLOSED
    after = {b.instance: b for b in await list_shared(ops_store)}
    assert after[f"fleet:{namespace}"].state == "CLOSED"
    assert not after[f"fleet:{namespace}"].reset_pending
