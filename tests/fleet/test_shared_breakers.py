"""Breakers shared through Redis or PostgreSQL: trip together, probe fleet-wide, fall back, rejoin.

One contract suite, run over both stores.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seawall import CircuitBreaker, CircuitOpenError, CircuitState
from seawall.testing import FakeClock
from tests.fleet.conftest import Backend

PROBER = str(Path(__file__).with_name("prober_process.py"))


def _fail(breaker: CircuitBreaker) -> None:
    ticket = breaker.acquire()
    breaker.on_error(ticket, RuntimeError("down"))


def test_failures_in_two_processes_trip_both(backend: Backend, namespace: str) -> None:
    """Two breakers with separate local records: 3 + 2 failures reach the shared threshold 5."""
    clock = FakeClock()
    a_store, b_store = backend.breakers(namespace), backend.breakers(namespace)
    a = CircuitBreaker(5, 10_000, name="psp", clock=clock, store=a_store)
    b = CircuitBreaker(5, 10_000, name="psp", clock=clock, store=b_store)
    assert a.record is not b.record
    for _ in range(3):
        _fail(a)
    for _ in range(2):
        _fail(b)
    assert a.state is b.state is CircuitState.CLOSED  # neither saw 5 locally
    assert a_store.sync_now() and b_store.sync_now()
    assert b.state is CircuitState.OPEN  # b's sync crossed the shared threshold
    assert a_store.sync_now()
    assert a.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        a.acquire()


def test_a_local_trip_opens_the_fleet(backend: Backend, namespace: str) -> None:
    clock = FakeClock()
    a_store, b_store = backend.breakers(namespace), backend.breakers(namespace)
    a = CircuitBreaker(2, 10_000, name="psp", clock=clock, store=a_store)
    b = CircuitBreaker(2, 10_000, name="psp", clock=clock, store=b_store)
    b_store.sync_now()
    a.trip()
    a_store.sync_now()
    b_store.sync_now()
    assert b.state is CircuitState.OPEN
    a.reset()  # an operator's reset closes the fleet too
    a_store.sync_now()
    b_store.sync_now()
    assert b.state is CircuitState.CLOSED


def test_a_success_clears_the_fleet_count_of_a_process_that_failed(
    backend: Backend, namespace: str
) -> None:
    clock = FakeClock()
    a_store, b_store = backend.breakers(namespace), backend.breakers(namespace)
    a = CircuitBreaker(3, 10_000, name="psp", clock=clock, store=a_store)
    b = CircuitBreaker(3, 10_000, name="psp", clock=clock, store=b_store)
    _fail(a)
    _fail(a)
    a.on_success(a.acquire())
    a_store.sync_now()
    _fail(b)
    b_store.sync_now()
    assert b.state is CircuitState.CLOSED  # 1 consecutive failure fleet-wide, not 3


def test_healthy_calls_send_nothing(backend: Backend, namespace: str) -> None:
    store = backend.breakers(namespace)
    breaker = CircuitBreaker(3, name="psp", store=store)
    for _ in range(100):
        breaker.on_success(breaker.acquire())
    shared = store._shared["psp"]
    assert (shared.reset, shared.failed, shared.request) == (False, 0, "")


def test_ratio_mode_counts_fleet_wide(backend: Backend, namespace: str) -> None:
    clock = FakeClock()
    stores = [backend.breakers(namespace) for _ in range(4)]
    breakers = [
        CircuitBreaker(
            name="psp", mode="ratio", minimum_calls=20, window_s=30, clock=clock, store=store
        )
        for store in stores
    ]
    for breaker in breakers:  # 10 calls each, 6 failures: 40 calls fleet-wide, 60% failed
        for i in range(10):
            ticket = breaker.acquire()
            if i < 6:
                breaker.on_error(ticket, RuntimeError("down"))
            else:
                breaker.on_success(ticket)
    assert all(b.state is CircuitState.CLOSED for b in breakers)
    for store in stores:
        store.sync_now()
    for store in stores:
        store.sync_now()
    assert all(b.state is CircuitState.OPEN for b in breakers)


def test_half_open_probes_are_capped_fleet_wide(backend: Backend, namespace: str) -> None:
    clock = FakeClock()
    stores = [backend.breakers(namespace) for _ in range(3)]
    breakers = [
        CircuitBreaker(1, 0, name="psp", half_open_max_calls=2, clock=clock, store=store)
        for store in stores
    ]
    _fail(breakers[0])
    for store in stores:
        store.sync_now()
    admitted = []
    for breaker in breakers:
        for _ in range(2):  # each process would admit 2 probes on its own
            with contextlib.suppress(CircuitOpenError):
                admitted.append((breaker, breaker.acquire()))
    assert len(admitted) == 2  # 2 in total, not 2 per process
    for breaker, ticket in admitted:
        breaker.on_success(ticket)
    for store in stores:
        store.sync_now()
    for store in stores:
        store.sync_now()
    assert all(b.state is CircuitState.CLOSED for b in breakers)


def test_a_failed_probe_reopens_the_fleet(backend: Backend, namespace: str) -> None:
    clock = FakeClock()
    a_store, b_store = backend.breakers(namespace), backend.breakers(namespace)
    a = CircuitBreaker(1, 0, name="psp", clock=clock, store=a_store)
    b = CircuitBreaker(1, 0, name="psp", clock=clock, store=b_store)
    _fail(a)
    a_store.sync_now()
    b_store.sync_now()
    ticket = b.acquire()  # b's probe
    with pytest.raises(CircuitOpenError):
        a.acquire()  # the fleet's only slot is b's
    b.on_error(ticket, RuntimeError("still down"))
    b_store.sync_now()
    a_store.sync_now()
    assert a.state is CircuitState.OPEN


def test_a_dead_probers_slot_expires(backend: Backend, namespace: str) -> None:
    clock = FakeClock()
    a_store = backend.breakers(namespace, probe_ttl_s=0.2, sync_interval_s=0.01)
    b_store = backend.breakers(namespace)
    a = CircuitBreaker(1, 0, name="psp", clock=clock, store=a_store)
    b = CircuitBreaker(1, 0, name="psp", clock=clock, store=b_store)
    _fail(a)
    a_store.sync_now()
    a.acquire()  # a takes the slot and dies with it
    b_store.sync_now()
    with pytest.raises(CircuitOpenError):
        b.acquire()
    time.sleep(0.25)
    clock.advance(1.0)  # past b's remembered refusal
    b.acquire()


def test_the_slot_of_a_killed_prober_frees_itself(backend: Backend, namespace: str) -> None:
    """A process SIGKILLed in the middle of its probe holds the fleet's slot only until it
    expires; then another process probes. (The slot lives 2 s: long enough to still be held
    when this process first looks, on a busy machine and on moto.)"""
    prober = subprocess.Popen(
        [sys.executable, PROBER, backend.kind, backend.url, namespace, "2.0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert prober.stdout is not None and prober.stdout.readline().strip() == "probing"
    finally:
        prober.send_signal(signal.SIGKILL)
        prober.wait(timeout=10)
    clock = FakeClock()
    store = backend.breakers(namespace)
    breaker = CircuitBreaker(1, 0, name="psp", clock=clock, store=store)
    store.sync_now()
    with pytest.raises(CircuitOpenError):
        breaker.acquire()  # the dead process's slot
    deadline = time.monotonic() + 5.0
    while True:
        clock.advance(1.0)  # past this process's remembered refusal
        try:
            breaker.acquire()
            break
        except CircuitOpenError:
            assert time.monotonic() < deadline, "the slot never expired"
            time.sleep(0.05)


def test_an_unreachable_server_falls_back_to_local_state_and_logs_once(
    backend: Backend, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    store = backend.breakers(namespace, closed=True, timeout_s=0.05, on_fallback=seen.append)
    clock = FakeClock()
    breaker = CircuitBreaker(2, 1000, name="psp", clock=clock, store=store)
    with caplog.at_level(logging.WARNING, logger="seawall.fleet.breakers"):
        _fail(breaker)
        assert not store.sync_now()
        _fail(breaker)
        assert not store.sync_now()
    assert breaker.state is CircuitState.OPEN  # local breaker still trips
    assert not store.available
    assert store.fallbacks == 1 and seen == [namespace]
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1
    clock.advance(1.0)
    breaker.on_success(breaker.acquire())  # probes are admitted locally
    assert breaker.state is CircuitState.CLOSED


def test_rejoins_the_fleet_when_the_server_returns(backend: Backend, namespace: str) -> None:
    clock = FakeClock()
    store = backend.breakers(namespace)
    breaker = CircuitBreaker(2, 10_000, name="psp", clock=clock, store=store)
    saved = backend.cut(store)
    _fail(breaker)
    assert not store.sync_now()
    # Meanwhile another process opened the breaker fleet-wide.
    other_store = backend.breakers(namespace)
    other = CircuitBreaker(2, 10_000, name="psp", clock=clock, store=other_store)
    other.trip()
    other_store.sync_now()
    backend.restore(store, saved)
    assert store.sync_now()
    assert store.available
    assert breaker.state is CircuitState.OPEN


def test_a_connection_ended_by_the_server_is_reopened(backend: Backend, namespace: str) -> None:
    clock = FakeClock()
    store = backend.breakers(namespace)
    breaker = CircuitBreaker(1, 10_000, name="psp", clock=clock, store=store)
    assert store.sync_now()
    backend.kill_connection(store)
    other_store = backend.breakers(namespace)
    CircuitBreaker(1, 10_000, name="psp", clock=clock, store=other_store).trip()
    assert other_store.sync_now()
    synced = [store.sync_now() for _ in range(2)]  # at most one fails, then a new connection
    assert synced[-1] and store.available
    assert breaker.state is CircuitState.OPEN


def test_background_thread_spreads_a_trip(backend: Backend, namespace: str) -> None:
    a_store = backend.breakers(namespace, sync_interval_s=0.02, background=True)
    b_store = backend.breakers(namespace, sync_interval_s=0.02, background=True)
    try:
        a = CircuitBreaker(1, 10_000, name="psp", store=a_store)
        b = CircuitBreaker(1, 10_000, name="psp", store=b_store)
        _fail(a)
        deadline = time.monotonic() + 0.4
        while b.state is not CircuitState.OPEN and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.state is CircuitState.OPEN
    finally:
        a_store.close()
        b_store.close()


def test_fallbacks_can_feed_the_metrics(backend: Backend, namespace: str) -> None:
    pytest.importorskip("prometheus_client")
    from seawall.observability.metrics import SeawallMetrics

    metrics = SeawallMetrics()
    store = backend.breakers(namespace, closed=True, on_fallback=metrics.shared_store_fallback)
    breaker = CircuitBreaker(1, name="psp", store=store)
    _fail(breaker)
    store.sync_now()
    assert b"seawall_shared_store_fallbacks_total" in metrics.render()
