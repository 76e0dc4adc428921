"""What only the DynamoDB breaker store has to prove: racing writers lose no count, and a sync
makes the calls its docstring promises."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from seawall import CircuitBreaker, CircuitState
from seawall.fleet import DynamoBreakerStore
from seawall.testing import FakeClock
from tests.fleet.prober_process import DYNAMO_TABLE


def _store(url: str, namespace: str) -> DynamoBreakerStore:
    return DynamoBreakerStore(DYNAMO_TABLE, endpoint_url=url, namespace=namespace, background=False)


def _count_calls(store: DynamoBreakerStore) -> Counter[str]:
    calls: Counter[str] = Counter()

    def seen(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    store.client.meta.events.register("before-call", seen)
    return calls


def test_racing_syncs_lose_no_count(dynamo_url: str, namespace: str) -> None:
    clock = FakeClock()
    stores = [_store(dynamo_url, namespace) for _ in range(4)]
    breakers = [CircuitBreaker(20, 10_000, name="psp", clock=clock, store=s) for s in stores]
    for breaker in breakers:
        for _ in range(5):
            breaker.on_error(breaker.acquire(), RuntimeError("down"))
    start = threading.Barrier(len(stores))

    def sync(store: DynamoBreakerStore) -> None:
        start.wait()
        assert store.sync_now()

    threads = [threading.Thread(target=sync, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    watcher = _store(dynamo_url, namespace)
    seen = CircuitBreaker(20, 10_000, name="psp", clock=clock, store=watcher)
    assert watcher.sync_now()
    assert seen.state is CircuitState.OPEN  # 4 x 5 failures reached the threshold of 20


def test_a_sync_reads_in_one_batch_and_writes_only_what_changed(
    dynamo_url: str, namespace: str
) -> None:
    clock = FakeClock()
    store = _store(dynamo_url, namespace)
    calls = _count_calls(store)
    breakers = [
        CircuitBreaker(5, 10_000, name=f"dep{i}", clock=clock, store=store) for i in range(3)
    ]
    assert store.sync_now()
    assert calls == {"BatchGetItem": 1}  # nothing pending: reads only
    calls.clear()
    breakers[0].on_error(breakers[0].acquire(), RuntimeError("down"))
    assert store.sync_now()
    assert calls == {"BatchGetItem": 1, "UpdateItem": 1}
