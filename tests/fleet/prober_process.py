"""A process that opens a shared breaker, takes the fleet's probe slot and hangs (to be killed).

Usage: prober_process.py redis|postgres|dynamo URL NAMESPACE PROBE_TTL_S
"""

from __future__ import annotations

import sys
import time

from seawall import CircuitBreaker
from seawall.fleet import DynamoBreakerStore, PostgresBreakerStore, SharedBreakerStore
from seawall.fleet.breaker_sync import SyncedBreakerStore

DYNAMO_TABLE = "seawall-test-fleet"


def main() -> None:
    kind, url, namespace, ttl = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    store: SyncedBreakerStore
    if kind == "redis":
        store = SharedBreakerStore(url, namespace=namespace, background=False, probe_ttl_s=ttl)
    elif kind == "dynamo":
        store = DynamoBreakerStore(
            DYNAMO_TABLE, endpoint_url=url, namespace=namespace, background=False, probe_ttl_s=ttl
        )
    else:
        store = PostgresBreakerStore(url, namespace=namespace, background=False, probe_ttl_s=ttl)
    breaker = CircuitBreaker(1, 0, name="psp", store=store)
    breaker.on_error(breaker.acquire(), RuntimeError("down"))
    assert store.sync_now()
    breaker.acquire()  # the fleet's only probe slot
    print("probing", flush=True)
    time.sleep(60)


if __name__ == "__main__":
    main()
