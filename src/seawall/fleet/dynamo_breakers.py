"""Circuit breakers shared by every process of a fleet through DynamoDB (the `aws` extra).

`DynamoBreakerStore` is the `SyncedBreakerStore` of the AWS mode (see
`seawall.fleet.breaker_sync` for the design). DynamoDB runs no code of ours, so the rules the
Redis and PostgreSQL stores run on their server (`dynamo_breaker_step`) run here, on the store's
thread, between a consistent read and a conditional write (`DynamoDocs`): one item per breaker,
`pk` = namespace#breaker#name, its state a JSON document. A write that loses to another
process's is read again and redone, so no count is lost or counted twice.

Calls per sync, for N breakers: ceil(N / 100) `BatchGetItem` calls, plus one `UpdateItem` per
breaker with something to write (pending counts, a transition, a probe's verdict), plus one
`GetItem` and one `UpdateItem` more per lost race. A sync with nothing pending is the reads only.
A probe request is one `GetItem` and at most one `UpdateItem`.

There is no server clock: `opened_at` and probe expiries come from the writing process's wall
clock (`clock`, default `time.time`), and time on one item never runs backwards (each write uses
at least the previous write's time). Clock skew between processes shifts the fleet's open period
and probe expiries by the skew: a process whose clock runs d seconds ahead ends an open period d
seconds early. Keep hosts NTP-synced (skew well below `reset_timeout_s` and `probe_ttl_s`; on AWS
it is typically milliseconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from seawall.fleet.breaker_sync import Reply, SyncedBreakerStore
from seawall.fleet.dynamo_breaker_step import new_doc, step
from seawall.fleet.dynamo_link import Doc, DynamoDocs
from seawall.resilience.breaker_store import CircuitState

__all__ = ["DynamoBreakerStore"]


class DynamoBreakerStore(SyncedBreakerStore):
    """Breaker state shared through a DynamoDB table (`boto3`, the `aws` extra).

    `DynamoBreakerStore("prod-myapp-fleet", namespace="payments")`, then
    `CircuitBreaker(..., store=store, name="psp")` in every process. The table (key `pk` string,
    TTL on `ttl`) comes from the SAM template or `serverless.yml`; `create_table=True` makes it
    when missing (tests, the demo). Settings as in `SharedBreakerStore`; `timeout_s` bounds each
    call; pass `client=` to reuse a boto3 DynamoDB client.
    """

    def __init__(
        self,
        table: str = "seawall-fleet",
        *,
        namespace: str = "seawall",
        region: str | None = None,
        endpoint_url: str | None = None,
        sync_interval_s: float = 0.1,
        probe_ttl_s: float = 30.0,
        timeout_s: float = 1.0,
        key_ttl_s: int = 86400,
        client: Any = None,
        create_table: bool = False,
        clock: Callable[[], float] = time.time,
        background: bool = True,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(
            namespace=namespace,
            sync_interval_s=sync_interval_s,
            probe_ttl_s=probe_ttl_s,
            key_ttl_s=key_ttl_s,
            background=background,
            on_fallback=on_fallback,
        )
        self.clock = clock
        self.docs = DynamoDocs.open(
            table,
            key_ttl_s,
            client=client,
            region=region,
            endpoint_url=endpoint_url,
            timeout_s=timeout_s,
            create_table=create_table,
        )

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client."""
        return self.docs.client

    @client.setter
    def client(self, value: Any) -> None:
        self.docs.client = value

    def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> list[Reply]:
        found = self.docs.read_many([self._pk(name) for name, _cfg in batch])
        return [self._change(name, "sync", cfg, found.get(self._pk(name))) for name, cfg in batch]

    def _ask_probe(self, name: str, cfg: dict[str, Any]) -> Reply:
        return self._change(name, "probe", cfg, self.docs.read(self._pk(name)))

    def _close_backend(self) -> None:
        self.client.close()

    def _pk(self, name: str) -> str:
        return f"{self.namespace}#breaker#{name}"

    def _change(
        self, name: str, op: str, cfg: dict[str, Any], current: tuple[Doc, int] | None
    ) -> Reply:
        def compute(doc: Doc | None) -> tuple[Doc | None, Reply]:
            before = doc if doc is not None else new_doc()
            after, extra, now = step(before, op, cfg, self.clock())
            reply = (
                extra,
                CircuitState(after["state"]),
                int(after["gen"]),
                now - after["opened_at"],
            )
            if after == before:
                return None, reply  # nothing changed: no write
            after["updated_at"] = now
            return after, reply

        return self.docs.change(self._pk(name), current, compute, self.clock)
