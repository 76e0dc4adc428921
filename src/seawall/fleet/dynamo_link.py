"""The DynamoDB side of the fleet stores: a client that fails fast, the table they share, and its
items read and changed by conditional writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Doc", "DynamoDocs", "dynamo_client", "ensure_fleet_table", "is_conflict"]

T = TypeVar("T")


def dynamo_client(region: str | None, endpoint_url: str | None, timeout_s: float) -> Any:
    """A low-level boto3 DynamoDB client whose calls give up after `timeout_s`, unretried (the
    store's thread tries again at its next sync; a caller falls back to local state meanwhile)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ImportError(
            "the DynamoDB fleet store needs boto3: pip install 'seawall[aws]'"
        ) from None
    config = Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return boto3.session.Session().client(
        "dynamodb", region_name=region or "us-east-1", endpoint_url=endpoint_url, config=config
    )


def ensure_fleet_table(client: Any, table: str) -> None:
    """Create the fleet table (key `pk`, PAY_PER_REQUEST, TTL on `ttl`) unless it exists."""
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.05})
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


def is_conflict(exc: BaseException) -> bool:
    """True for a conditional write that lost to another process's write."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


Doc = dict[str, Any]
_BATCH = 100  # BatchGetItem's limit
_RACES = 20  # conditional writes lost in a row before a decision is given up (and retried)


class DynamoDocs:
    """Items of the fleet table as JSON documents, changed only by conditional writes.

    An item is `pk`, `doc` (JSON), `ver` (bumped by every write) and `ttl`. `change` reads an
    item, lets the caller compute its new document, and writes it with `UpdateItem ...
    ConditionExpression ver = :seen`; a write that loses to another process's is read again and
    redone, so no decision is lost or made twice.
    """

    def __init__(self, client: Any, table: str, ttl_s: int) -> None:
        self.client = client
        self.table = table
        self.ttl_s = ttl_s

    @classmethod
    def open(
        cls,
        table: str,
        ttl_s: int,
        *,
        client: Any,
        region: str | None,
        endpoint_url: str | None,
        timeout_s: float,
        create_table: bool,
    ) -> DynamoDocs:
        """The documents of `table` through `client` (a new one when None), creating the table
        first when `create_table`."""
        if client is None:
            client = dynamo_client(region, endpoint_url, timeout_s)
        if create_table:
            ensure_fleet_table(client, table)
        return cls(client, table, ttl_s)

    def read_many(self, pks: list[str]) -> dict[str, tuple[Doc, int]]:
        """The documents (and versions) of `pks` that exist: one consistent `BatchGetItem` per
        hundred keys."""
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

    def read(self, pk: str) -> tuple[Doc, int] | None:
        """One document and its version (a consistent `GetItem`), or None."""
        response = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return _decode(item) if item is not None else None

    def change(
        self,
        pk: str,
        current: tuple[Doc, int] | None,
        compute: Callable[[Doc | None], tuple[Doc | None, T]],
        now: Callable[[], float],
    ) -> T:
        """Apply `compute` (None as its document: nothing to write) to the item `pk`, starting
        from `current` (as read), by conditional writes; returns what `compute` returned."""
        for _ in range(_RACES):
            doc, ver = current if current is not None else (None, 0)
            changed, answer = compute(doc)
            if changed is None:
                return answer
            try:
                self._write(pk, changed, ver, now())
            except Exception as exc:
                if not is_conflict(exc):
                    raise
                current = self.read(pk)
                continue
            return answer
        raise RuntimeError(f"{pk}: {_RACES} conditional writes lost in a row")

    def _write(self, pk: str, doc: Doc, ver: int, now: float) -> None:
        values: dict[str, Any] = {
            ":doc": {"S": json.dumps(doc, separators=(",", ":"))},
            ":next": {"N": str(ver + 1)},
            ":ttl": {"N": str(int(now) + self.ttl_s)},
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
