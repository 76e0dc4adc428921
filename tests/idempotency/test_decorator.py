"""`@idempotent` on async and sync functions, on both engines: states, concurrency, expiry."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from seawall.clock import SYSTEM_CLOCK
from seawall.idempotency import (
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
    IdempotencyPayloadError,
    IdempotencyResultError,
    IdempotencyStore,
    idempotent,
    run_sync,
)
from seawall.resilience import Deadline
from seawall.store import Store, open_store
from seawall.testing import FakeClock
from tests.conftest import dispose


async def test_repeat_returns_stored_result_without_running(store: Store) -> None:
    runs: list[str] = []

    @idempotent(store, key="order_id", scope="charge")
    async def charge(order_id: str, amount: int) -> dict[str, Any]:
        runs.append(order_id)
        return {"order": order_id, "amount": amount, "pair": (1, 2)}

    first = await charge("o1", 100)
    second = await charge("o1", 100)
    assert runs == ["o1"]
    assert first == {"order": "o1", "amount": 100, "pair": (1, 2)}
    assert second == {"order": "o1", "amount": 100, "pair": [1, 2]}  # the JSON round trip
    await charge("o2", 100)
    assert runs == ["o1", "o2"]


async def test_same_key_other_arguments_is_a_mismatch(store: Store) -> None:
    @idempotent(store, key="order_id")
    async def charge(order_id: str, amount: int) -> int:
        return amount

    assert await charge("o1", 100) == 100
    with pytest.raises(IdempotencyKeyMismatchError):
        await charge("o1", 999)


async def test_exception_releases_the_key(store: Store) -> None:
    attempts = 0

    @idempotent(store, key=lambda order_id: f"pay-{order_id}")
    async def pay(order_id: str) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("provider down")
        return "paid"

    with pytest.raises(ConnectionError):
        await pay("o1")
    assert await pay("o1") == "paid"
    assert await pay("o1") == "paid"
    assert attempts == 2


async def test_fifty_concurrent_calls_run_once(store: Store) -> None:
    runs = 0
    entered = asyncio.Event()
    release = asyncio.Event()

    @idempotent(store, key="key")
    async def work(key: str) -> str:
        nonlocal runs
        runs += 1
        entered.set()
        await release.wait()
        return "done"

    tasks = [asyncio.create_task(work("same")) for _ in range(50)]
    await asyncio.wait_for(entered.wait(), 10)
    while sum(t.done() for t in tasks) < 49:
        await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert runs == 1
    assert results.count("done") == 1
    assert sum(isinstance(r, IdempotencyInProgressError) for r in results) == 49
    assert await work("same") == "done"
    assert runs == 1


async def test_fifty_concurrent_waiters_share_one_result(store_url: str) -> None:
    real = open_store(store_url, clock=SYSTEM_CLOCK)
    await real.migrate()
    try:
        runs = 0

        @idempotent(real, key="key", wait=10.0)
        async def work(key: str) -> int:
            nonlocal runs
            runs += 1
            await asyncio.sleep(0.2)
            return 42

        results = await asyncio.gather(*(work("k") for _ in range(50)))
        assert results == [42] * 50
        assert runs == 1
    finally:
        await dispose(real)


async def test_waiting_gives_up_after_its_timeout(store: Store, clock: FakeClock) -> None:
    release = asyncio.Event()

    @idempotent(store, key="key", scope="waiting", wait=2.0, lease_s=30)
    async def work(key: str) -> int:
        await release.wait()
        return 1

    holder = asyncio.create_task(work("k"))
    while await IdempotencyStore(store).get("waiting", "k") is None:
        await asyncio.sleep(0.01)
    started = clock.time()
    with pytest.raises(IdempotencyInProgressError):
        await work("k")
    assert 2.0 <= clock.time() - started < 3.0
    release.set()
    assert await holder == 1


async def test_completed_result_expires(store: Store, clock: FakeClock) -> None:
    runs = 0

    @idempotent(store, key="key", expires_after=60)
    async def work(key: str) -> int:
        nonlocal runs
        runs += 1
        return runs

    assert await work("k") == 1
    clock.advance(59)
    assert await work("k") == 1
    clock.advance(2)
    assert await work("k") == 2


async def test_crashed_call_frees_the_key_when_its_deadline_lease_ends(
    store: Store, clock: FakeClock
) -> None:
    records = IdempotencyStore(store)

    @idempotent(records, key="key", scope="deadline")
    async def work(key: str) -> str:
        return "ok"

    # A caller that claimed under a 5 s deadline and died: its lease is the deadline's time left.
    with Deadline(5, clock=clock):
        crashed = await records.claim("deadline", "k", "x", lease_s=work_lease())
    assert crashed.outcome == "claimed"
    record = await records.get("deadline", "k")
    assert record is not None and record.lease_expires_at == pytest.approx(clock.time() + 5)
    with pytest.raises((IdempotencyInProgressError, IdempotencyKeyMismatchError)):
        await work("k")
    clock.advance(5.1)
    assert await work("k") == "ok"


def work_lease() -> float:
    """The lease a decorated call takes right now (the active deadline's time left)."""
    from seawall.resilience import time_left

    left = time_left()
    assert left is not None
    return left


async def test_decorated_call_uses_the_deadline_as_lease(store: Store, clock: FakeClock) -> None:
    records = IdempotencyStore(store)
    seen: dict[str, float | None] = {}

    @idempotent(records, key="key", scope="d", lease_s=600)
    async def work(key: str) -> str:
        record = await records.get("d", key)
        seen["lease"] = None if record is None else record.lease_expires_at
        return "ok"

    with Deadline(7, clock=clock):
        await work("k")
    assert seen["lease"] == pytest.approx(clock.time() + 7)
    await work("k2")
    assert seen["lease"] == pytest.approx(clock.time() + 600)


async def test_unstorable_result_and_payload_are_named_errors(store: Store) -> None:
    runs = 0

    @idempotent(store, key="key", scope="bad-result")
    async def bad_result(key: str) -> object:
        nonlocal runs
        runs += 1
        return object()

    with pytest.raises(IdempotencyResultError, match="serializer"):
        await bad_result("k")
    assert runs == 1
    assert await IdempotencyStore(store).get("bad-result", "k") is None  # released

    @idempotent(store, key="key")
    async def bad_args(key: str, client: object) -> int:
        return 1

    with pytest.raises(IdempotencyPayloadError):
        await bad_args("k", object())

    @idempotent(store, key="key", payload=lambda key, client: {"key": key})
    async def picked(key: str, client: object) -> int:
        return 7

    assert await picked("k", object()) == 7
    assert await picked("k", object()) == 7

    with pytest.raises(IdempotencyKeyError, match="names no parameter"):
        idempotent(store, key="missing")(picked)
    with pytest.raises(IdempotencyKeyError):
        await picked("", object())


async def test_serializer_hooks_restore_the_type(store: Store) -> None:
    class Receipt:
        def __init__(self, amount: int) -> None:
            self.amount = amount

    @idempotent(
        store,
        key="key",
        serializer=lambda r: {"amount": r.amount},
        deserializer=lambda d: Receipt(d["amount"]),
    )
    async def make(key: str) -> Receipt:
        return Receipt(5)

    await make("k")
    again = await make("k")
    assert isinstance(again, Receipt) and again.amount == 5


async def test_tx_arg_commits_record_with_effects(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (k TEXT PRIMARY KEY)")

    @idempotent(store, key="key", tx_arg="tx")
    async def apply(key: str, tx: Any) -> str:
        await tx.execute("INSERT INTO effects (k) VALUES (?)", (key,))
        return "applied"

    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await apply("k", tx)
            raise RuntimeError("crash before commit")
    async with store.transaction() as tx:
        assert await apply("k", tx) == "applied"
    async with store.transaction() as tx:
        assert await apply("k", tx) == "applied"
    async with store.read() as tx:
        assert await tx.fetchval("SELECT COUNT(*) FROM effects") == 1


async def test_tx_arg_concurrent_repeat_waits_for_the_callers_commit(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects_wait (k TEXT PRIMARY KEY)")
    runs = 0
    gate = asyncio.Event()

    @idempotent(store, key="key", scope="tx-wait", tx_arg="tx")
    async def apply(key: str, tx: Any) -> str:
        nonlocal runs
        runs += 1
        await tx.execute("INSERT INTO effects_wait (k) VALUES (?)", (key,))
        return "applied"

    async def holder() -> str:
        async with store.transaction() as tx:
            result = await apply("k", tx)
            await gate.wait()  # the claim, effect and result are not committed yet
            return result

    async def repeat() -> str:
        async with store.transaction() as tx:
            return await apply("k", tx)

    first = asyncio.create_task(holder())
    while runs == 0:
        await asyncio.sleep(0)
    second = asyncio.create_task(repeat())
    for _ in range(50):
        await asyncio.sleep(0)
    assert not second.done()  # held until the holder's transaction ends
    gate.set()
    assert await first == "applied"
    assert await second == "applied"  # a replay, not IdempotencyInProgressError
    assert runs == 1
    async with store.read() as tx:
        assert await tx.fetchval("SELECT COUNT(*) FROM effects_wait") == 1


# -- synchronous functions -------------------------------------------------------------------


@pytest.fixture
def sync_store(store_url: str) -> Iterator[tuple[Store, FakeClock]]:
    """A store driven by the idempotency bridge loop, as synchronous code would use it."""
    clock = FakeClock()
    opened = open_store(store_url, clock=clock)

    async def migrate() -> None:
        await opened.migrate()

    run_sync(migrate())
    yield opened, clock
    run_sync(dispose(opened))


def test_sync_function_runs_once_across_threads(sync_store: tuple[Store, FakeClock]) -> None:
    store, clock = sync_store
    runs = 0
    lock = threading.Lock()
    gate = threading.Event()

    @idempotent(store, key="key")
    def work(key: str) -> str:
        nonlocal runs
        with lock:
            runs += 1
        gate.wait(5)
        return f"done-{key}"

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(work, "k") for _ in range(20)]
        finished = 0
        while finished < 19:
            finished = sum(f.done() for f in futures)
            threading.Event().wait(0.01)
        gate.set()
        outcomes = [f.exception() or f.result() for f in futures]
    assert runs == 1
    assert outcomes.count("done-k") == 1
    assert sum(isinstance(o, IdempotencyInProgressError) for o in outcomes) == 19
    assert work("k") == "done-k"
    assert runs == 1
    clock.advance(3601)
    assert work("k") == "done-k"
    assert runs == 2


def test_sync_exception_releases(sync_store: tuple[Store, FakeClock]) -> None:
    store, _ = sync_store
    calls = 0

    @idempotent(store, key="key")
    def flaky(key: str) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("first try fails")
        return calls

    with pytest.raises(ValueError):
        flaky("k")
    assert flaky("k") == 2
    assert flaky("k") == 2


async def test_sync_function_called_inside_an_event_loop_is_refused(store: Store) -> None:
    @idempotent(store, key="key")
    def work(key: str) -> int:
        return 1

    with pytest.raises(RuntimeError, match="decorate an async function"):
        work("k")
