"""The breaker registry, and sharing breaker state through the store (both engines)."""

from __future__ import annotations

from seawall.ops.breakers import BreakerRegistry, BreakerSync, list_shared, request_reset
from seawall.resilience.breaker import CircuitBreaker, CircuitState
from seawall.store import Store
from seawall.testing import FakeClock


def test_registry_snapshot_and_reset() -> None:
    registry = BreakerRegistry()
    breaker = CircuitBreaker(name="ledger", clock=FakeClock())
    assert registry.register(breaker) is breaker
    breaker.trip()
    assert [(b.name, b.state) for b in registry.snapshot()] == [("ledger", "OPEN")]
    assert registry.states() == [("ledger", "OPEN")]
    assert registry.reset("ledger") is True
    assert breaker.state is CircuitState.CLOSED
    assert registry.reset("unknown") is False
    registry.unregister("ledger")
    assert registry.snapshot() == []


async def test_published_state_and_remote_reset(store: Store, clock: FakeClock) -> None:
    registry = BreakerRegistry()
    breaker = CircuitBreaker(failure_threshold=2, name="payments", clock=clock)
    registry.register(breaker)
    registry.register(CircuitBreaker(name="ledger", clock=clock))
    sync = BreakerSync(store, registry, instance="host-a:1")
    for _ in range(2):
        ticket = breaker.acquire()
        breaker.on_error(ticket, RuntimeError("down"))
    assert breaker.state is CircuitState.OPEN
    assert await sync.sync_once() == 0
    shared = await list_shared(store)
    assert [(b.name, b.state, b.instance) for b in shared] == [
        ("ledger", "CLOSED", "host-a:1"),
        ("payments", "OPEN", "host-a:1"),
    ]
    assert await request_reset(store, "payments") == 1
    assert [b.reset_pending for b in await list_shared(store)] == [False, True]
    assert await request_reset(store, "nothing-by-that-name") == 0
    assert await sync.sync_once() == 1
    assert breaker.state is CircuitState.CLOSED
    after = {b.name: b for b in await list_shared(store)}
    assert after["payments"].state == "CLOSED" and not after["payments"].reset_pending


async def test_rows_of_gone_processes_are_forgotten(store: Store, clock: FakeClock) -> None:
    registry = BreakerRegistry()
    registry.register(CircuitBreaker(name="old", clock=clock))
    await BreakerSync(store, registry, instance="gone:1", forget_after_s=60).sync_once()
    clock.advance(120)
    await BreakerSync(store, BreakerRegistry(), instance="new:2", forget_after_s=60).sync_once()
    assert await list_shared(store) == []
