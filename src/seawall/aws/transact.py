"""One DynamoDB transaction: writes collected by handlers and seawall, committed all or nothing.

On AWS a handler's effects and its inbox mark commit together in one `TransactWriteItems`: the
handler adds puts, updates, deletes and condition checks to the `DynamoTx` it is given, seawall
adds the inbox mark (conditional on the event not being processed yet), and one call commits
them. A redelivered message finds the mark and changes nothing.

Limits (DynamoDB's): at most 100 items per transaction (seawall's own mark takes one, so 99 are
left for a handler), 4 MB in all, one operation per item, every item in the same account and
region. SQS sends, SNS publishes and outbound HTTP calls cannot join: do them in a later step or
through an outbox item written in the transaction. `after_commit` runs such a step once the
transaction has committed (a failed step is logged, not raised: the writes stand, and the outbox
item is there for a relay to finish the step).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from seawall.aws.clients import AwsClients

__all__ = ["MAX_ITEMS", "DynamoTx", "TransactionCancelledError", "from_item", "to_item"]

MAX_ITEMS = 100
"""DynamoDB's limit of items in one TransactWriteItems."""

log = logging.getLogger("seawall.aws")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values as DynamoDB attribute values (str, int, float, bytes, bool, None, lists,
    dicts; floats go through Decimal)."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(_decimals(v)) for k, v in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as Python values (numbers as int when whole, else float)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: _numbers(deserializer.deserialize(v)) for k, v in item.items()}


def _decimals(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decimals(v) for v in value]
    return value


def _numbers(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, bytes | bytearray) or type(value).__name__ == "Binary":
        return bytes(value.value if hasattr(value, "value") else value)
    return value


class TransactionCancelledError(Exception):
    """DynamoDB cancelled the transaction; `reasons[i]` is the code for item i (or None)."""

    def __init__(self, reasons: list[str | None], labels: list[str]) -> None:
        self.reasons = reasons
        self.labels = labels
        failed = [f"{labels[i]}: {r}" for i, r in enumerate(reasons) if r and r != "None"]
        super().__init__("transaction cancelled (" + "; ".join(failed or ["no reason"]) + ")")

    def failed(self, label: str) -> bool:
        """True when the item added with `label` is one of those that failed."""
        return any(
            lab == label and reason not in (None, "None")
            for lab, reason in zip(self.labels, self.reasons, strict=False)
        )


@dataclass
class _Expr:
    condition: str | None
    names: Mapping[str, str] | None
    values: Mapping[str, Any] | None

    def apply(self, op: dict[str, Any]) -> dict[str, Any]:
        if self.condition:
            op["ConditionExpression"] = self.condition
        if self.names:
            op["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            op["ExpressionAttributeValues"] = to_item(self.values)
        return op


class DynamoTx:
    """Writes that commit together in one TransactWriteItems (see the module docstring)."""

    engine = "dynamodb"

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self._items: list[dict[str, Any]] = []
        self._labels: list[str] = []
        self._after: list[Callable[[], object]] = []

    def __len__(self) -> int:
        return len(self._items)

    def _add(self, kind: str, op: dict[str, Any], label: str | None) -> None:
        if len(self._items) >= MAX_ITEMS:
            raise ValueError(
                f"a DynamoDB transaction holds at most {MAX_ITEMS} items (seawall's inbox mark "
                "is one of them); split the work or write an outbox item instead"
            )
        self._items.append({kind: op})
        self._labels.append(label or f"{kind} {op['TableName']}")

    def put(
        self,
        table: str,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> None:
        """Put `item` (Python values) when the transaction commits, if `condition` holds."""
        op = {"TableName": table, "Item": to_item(item)}
        self._add("Put", _Expr(condition, names, values).apply(op), label)

    def update(
        self,
        table: str,
        key: Mapping[str, Any],
        expression: str,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> None:
        """Apply the update `expression` to the item at `key`, if `condition` holds."""
        op = {"TableName": table, "Key": to_item(key), "UpdateExpression": expression}
        self._add("Update", _Expr(condition, names, values).apply(op), label)

    def delete(
        self,
        table: str,
        key: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> None:
        """Delete the item at `key`, if `condition` holds."""
        op = {"TableName": table, "Key": to_item(key)}
        self._add("Delete", _Expr(condition, names, values).apply(op), label)

    def check(
        self,
        table: str,
        key: Mapping[str, Any],
        condition: str,
        *,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> None:
        """Commit only if `condition` holds for the item at `key` (nothing is written to it)."""
        op = {"TableName": table, "Key": to_item(key)}
        self._add("ConditionCheck", _Expr(condition, names, values).apply(op), label)

    def after_commit(self, step: Callable[[], object]) -> None:
        """Run `step()` once the transaction has committed (never when it is cancelled)."""
        self._after.append(step)

    def commit(self, *, token: str | None = None) -> None:
        """Write everything at once (nothing when empty); TransactionCancelledError when a
        condition failed or another transaction conflicted. `token` makes a retried commit
        idempotent for 10 minutes (DynamoDB's ClientRequestToken)."""
        after, self._after = self._after, []
        if self._items:
            self._write(token)
        for step in after:
            try:
                step()
            except Exception:
                log.exception("a step after a committed transaction failed")

    def _write(self, token: str | None) -> None:
        db = self.clients.dynamodb
        request: dict[str, Any] = {"TransactItems": self._items}
        if token:
            request["ClientRequestToken"] = token[:36]
        try:
            db.transact_write_items(**request)
        except db.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", []) or []]
            raise TransactionCancelledError(
                reasons or [None] * len(self._labels), self._labels
            ) from None
        finally:
            self._items, self._labels = [], []
