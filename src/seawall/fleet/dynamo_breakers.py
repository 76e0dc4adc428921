"""Circuit breakers shared by every process of a fleet through DynamoDB (the `aws` extra).

`DynamoBreakerStore` is the `SyncedBreakerStore` of the AWS mode (see
`seawall.fleet.breaker_sync` for the design). DynamoDB runs no code of ours, so the rules the
Redis and PostgreSQL stores run on their server (`dynamo_breaker_step`) run here, on the store's
thread, between a consistent read and a conditional write: one item per breaker
(`pk` = namespace#name, `doc` = the state as JSON, `ver` = a version bumped by every write, `ttl`),
written with `UpdateItem ... ConditionExpression ver = :seen`. A write that loses to another
process is read again and redone, so no count is lost or counted twice.

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

import json
import time
from collections.abc import Callable
from typing import Any

from seawall.fleet.breaker_sync import Reply, SyncedBreakerStore
from seawall.fleet.dynamo_breaker_step import Doc, new_doc, step
from seawall.fleet.dynamo_link import dynamo_client, ensure_fleet_table, is_conflict
from seawall.resilience.breaker_store import CircuitState

__all__ = ["DynamoBreakerStore"]

_BATCH = 100  # BatchGetItem's limit
_RACES = 20  # lost conditional writes before a round is given up (and retried next sync)


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
        self.table = table
        self.clock = clock
        self.client = (
            client if client is not None else dynamo_client(region, endpoint_url, timeout_s)
        )
        if create_table:
            ensure_fleet_table(self.client, table)

    def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> list[Reply]:
        found = self._read_many([self._pk(name) for name, _cfg in batch])
        return [self._apply_op(name, "sync", cfg, found.get(self._pk(name))) for name, cfg in batch]

    def _ask_probe(self, name: str, cfg: dict[str, Any]) -> Reply:
        return self._apply_op(name, "probe", cfg, self._read_one(self._pk(name)))

    def _close_backend(self) -> None:
        self.client.close()

    # -- DynamoDB calls -------------------------------------------------------------------------

    def _pk(self, name: str) -> str:
        return f"{self.namespace}#breaker#{name}"

    def _read_many(self, pks: list[str]) -> dict[str, tuple[Doc, int]]:
        found: dict[str, tuple[Doc, int]] = {}
        for start in range(0, len(pks), _BATCH):
            keys: list[dict[str, Any]] = [{"pk": {"S": pk}} for pk in pks[start : start + _BATCH]]
            while keys:
                request = {self.table: {"Keys": keys, "ConsistentRead": True}}
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"]] = _decode(item)
                keys = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return found

    def _read_one(self, pk: str) -> tuple[Doc, int] | None:
        response = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return _decode(item) if item is not None else None

    def _apply_op(
        self, name: str, op: str, cfg: dict[str, Any], current: tuple[Doc, int] | None
    ) -> Reply:
        """Apply `op` to the item by a conditional write; after a lost race, read and redo."""
        pk = self._pk(name)
        for _ in range(_RACES):
            doc, ver = current if current is not None else (new_doc(), 0)
            changed, extra, now = step(doc, op, cfg, self.clock())
            if changed == doc:
                return _reply(extra, changed, now)
            changed["updated_at"] = now
            try:
                self._write(pk, changed, ver, now)
            except Exception as exc:
                if not is_conflict(exc):
                    raise
                current = self._read_one(pk)
                continue
            return _reply(extra, changed, now)
        raise RuntimeError(f"breaker {name!r}: {_RACES} conditional writes lost in a row")

    def _write(self, pk: str, doc: Doc, ver: int, now: float) -> None:
        values: dict[str, Any] = {
            ":doc": {"S": json.dumps(doc, separators=(",", ":"))},
            ":next": {"N": str(ver + 1)},
            ":ttl": {"N": str(int(now) + self.key_ttl_s)},
        }
        if ver:
            condition = "#ver = :seen"
            values[":seen"] = {"N": str(ver)}
        else:
            condition = "attribute_not_exists(pk)"
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET #doc = :doc, #ver = :next, #ttl = :ttl",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#doc": "doc", "#ver": "ver", "#ttl": "ttl"},
            ExpressionAttributeValues=values,
        )


def _decode(item: dict[str, Any]) -> tuple[Doc, int]:
    doc: Doc = json.loads(item["doc"]["S"])
    return doc, int(item["ver"]["N"])


def _reply(extra: int, doc: Doc, now: float) -> Reply:
    return (extra, CircuitState(doc["state"]), int(doc["gen"]), now - float(doc["opened_at"]))
