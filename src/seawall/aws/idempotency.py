"""Idempotency records in DynamoDB: one conditional PutItem per claim, and a Lambda decorator.

`DynamoIdempotencyStore` keeps the SQL `IdempotencyStore`'s contract on the deployment's
`{prefix}-idempotency` table (partition key `id`, TTL attribute `ttl`) and answers with the same
`Claim`, `IdempotencyRecord` and errors:

- `claim` is ONE `PutItem` conditional on the key being free: no item, an expired item, or an
  in-progress item whose lease has run out. DynamoDB applies the condition and the write
  atomically, so of any number of concurrent claimers exactly one wins. When the key is taken,
  `ReturnValuesOnConditionCheckFailure=ALL_OLD` hands back the item in the way with the failure,
  so a repeat costs that one call too and answers with the stored result, a mismatch
  (`IdempotencyKeyMismatchError`) or `IdempotencyInProgressError`; there is never a read before
  or after. A take-over of a stale record is the same PutItem (the SQL store needs a guarded
  UPDATE for it).
- The in-progress lease ends at `now + lease_s`, or earlier when a Lambda context is given:
  at `now + context.get_remaining_time_in_millis() / 1000`, since a timed-out invocation is dead
  and its key should be free as soon as it is (AWS Lambda Powertools does the same).
- `complete` is one conditional `UpdateItem` (token still ours, still in progress); with `tx=` it
  is added to the caller's `DynamoTx`, so the handler's effects and the completed record commit
  together in one `TransactWriteItems`.
- `release` is one conditional `DeleteItem` (or a transaction item with `tx=`).
- An item holds `id` (`scope#key`), `status`, `fingerprint`, `token`, `lease_expires_at` (while in
  progress), `expires_at`, `ttl`, `result` (JSON text, once completed), `created_at` and
  `updated_at` (from the first change on). Scope and key are read back from `id`; every
  attribute left out of the claim's item is one less for the SDK to serialise on every call.
- `ttl` holds the record's expiry as whole epoch seconds (rounded up), so DynamoDB's TTL sweeper
  deletes expired records; that is the DynamoDB version of `purge_expired`.

A new key through `idempotent_lambda` costs two API calls (PutItem, UpdateItem); a repeat costs
one (PutItem).

Where DynamoDB differs from the SQL store:

- `claim` cannot join a transaction (`tx=` is refused by omission): the claim has to be visible
  to other callers before the work starts, and a TransactWriteItems cannot return the item in
  the way as one PutItem can.
- `complete(..., tx=)` returns True without knowing the outcome, which is only known at commit.
  If the lease was lost meanwhile, the whole transaction is cancelled, effects included
  (`TransactionCancelledError`; `error.failed(store.tx_label(claim))` says so). The SQL store
  instead returns False and lets the caller's effects commit. Cancelling is the safer answer:
  another caller owns the key now and does the work.
- The record id is `scope#key`, so a scope may not contain `#`, and the id may not exceed
  DynamoDB's 2,048-byte key limit (keys follow the SQL rule: 1 to 255 characters).
- A stored result is limited by DynamoDB's 400 KB item size (the SQL store has no limit);
  `complete` refuses a larger one with `IdempotencyResultError`, which the decorator turns into
  a released key.
- `renew` sets the record's expiry to the later of the new lease end and `expires_after_s` from
  now (DynamoDB's update expressions have no max(), so it cannot keep a later stored expiry).
- Expired records stay until DynamoDB's TTL sweeper deletes them (usually within a few days);
  `get` returns them meanwhile, and `claim` treats them as free, as the SQL store does.
- Times are compared to the caller's clock (`clock.time()`), sent with the request: callers
  whose clocks disagree by more than a lease see each other's leases early or late, as SQL
  callers of a shared database would not.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from seawall.aws.clients import AwsClients
from seawall.aws.transact import DynamoTx
from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.idempotency.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
    IdempotencyResultError,
)
from seawall.idempotency.store import (
    DEFAULT_EXPIRES_AFTER_S,
    DEFAULT_LEASE_S,
    Claim,
    IdempotencyRecord,
    check_key,
    fingerprint,
)

__all__ = [
    "MAX_RESULT_BYTES",
    "DynamoIdempotencyStore",
    "LambdaContextLike",
    "idempotent_lambda",
]

log = logging.getLogger("seawall.idempotency")

MAX_ID_BYTES = 2048
"""DynamoDB's limit on a partition key value."""
MAX_RESULT_BYTES = 380_000
"""The largest stored result: DynamoDB's 400 KB item limit less room for the other attributes."""

_PROGRESS = "in_progress"
_DONE = "completed"
_NAMES = {
    "#id": "id",
    "#st": "status",
    "#exp": "expires_at",
    "#lease": "lease_expires_at",
}
# Free: no item, an expired one, or one in progress past its lease (the SQL store's `_stale`).
_CLAIM_CONDITION = (
    "attribute_not_exists(#id) OR #exp <= :now OR (#st = :progress AND #lease <= :now)"
)
_OURS = "#tok = :tok AND #st = :progress"
_COMPLETE = "SET #st = :done, #res = :res, #exp = :exp, #ttl = :ttl, #upd = :now REMOVE #lease"
_COMPLETE_NAMES = {
    "#st": "status",
    "#tok": "token",
    "#res": "result",
    "#exp": "expires_at",
    "#ttl": "ttl",
    "#upd": "updated_at",
    "#lease": "lease_expires_at",
}
_OURS_NAMES = {"#st": "status", "#tok": "token"}


class LambdaContextLike(Protocol):
    """The part of the Lambda context object seawall reads."""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda ends this invocation."""
        ...


def _n(value: float) -> dict[str, str]:
    return {"N": repr(float(value))}


def _ttl(expires_at: float) -> int:
    """Whole epoch seconds, rounded up, so the TTL sweeper never deletes a live record."""
    return math.ceil(expires_at)


def _record(item: Mapping[str, Any]) -> IdempotencyRecord:
    """An IdempotencyRecord from a low-level DynamoDB item."""

    def num(name: str) -> float | None:
        value = item.get(name)
        return None if value is None else float(value["N"])

    result = item.get("result")
    scope, key = item["id"]["S"].split("#", 1)  # a scope holds no '#'
    created_at = num("created_at")
    return IdempotencyRecord.from_row(
        {
            "scope": scope,
            "key": key,
            "status": item["status"]["S"],
            "fingerprint": item["fingerprint"]["S"],
            "token": item["token"]["S"],
            "lease_expires_at": num("lease_expires_at"),
            "expires_at": num("expires_at"),
            "result": None if result is None else result["S"],
            "created_at": created_at,
            "updated_at": num("updated_at") or created_at,
        }
    )


class DynamoIdempotencyStore:
    """Claims, completes and releases idempotency records in one DynamoDB table (see the module
    docstring)."""

    def __init__(
        self,
        clients: AwsClients,
        table: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        expires_after_s: float = DEFAULT_EXPIRES_AFTER_S,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        if expires_after_s <= 0 or lease_s <= 0:
            raise ValueError("expires_after_s and lease_s must be positive seconds")
        self.clients = clients
        self.table = table
        self.clock = clock
        self.expires_after_s = expires_after_s
        self.lease_s = lease_s

    @staticmethod
    def record_id(scope: str, key: str) -> str:
        """The item's partition key for (scope, key): `scope#key`, checked against the rules."""
        check_key(scope, key)
        if "#" in scope:
            raise IdempotencyKeyError(
                f"an idempotency scope on DynamoDB may not contain '#', got {scope!r}; "
                "pick another scope name",
                scope=scope,
                key=key,
            )
        record_id = f"{scope}#{key}"
        if len(record_id.encode()) > MAX_ID_BYTES:
            raise IdempotencyKeyError(
                f"scope and key together exceed DynamoDB's {MAX_ID_BYTES}-byte key limit; "
                "use a shorter scope",
                scope=scope[:40],
                key=key[:40],
            )
        return record_id

    def tx_label(self, claim: Claim) -> str:
        """The label of this claim's item in a DynamoTx, for `TransactionCancelledError.failed`."""
        return f"idempotency {claim.scope}#{claim.key}"

    def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        lambda_context: LambdaContextLike | None = None,
        lease_s: float | None = None,
        expires_after_s: float | None = None,
    ) -> Claim:
        """Claim (scope, key) with one conditional PutItem, or return the completed record.

        Raises IdempotencyKeyMismatchError when the key was used with another fingerprint, and
        IdempotencyInProgressError while another holder's lease is still running.
        """
        record_id = self.record_id(scope, key)
        now = self.clock.time()
        lease = self.lease_s if lease_s is None else lease_s
        if lambda_context is not None:
            left = max(0.0, lambda_context.get_remaining_time_in_millis() / 1000)
            lease = min(lease, left)
        expires = self.expires_after_s if expires_after_s is None else expires_after_s
        # The record must outlive its lease, or an expired record would be taken over mid-run.
        expires_at = now + max(expires, lease)
        token = uuid.uuid4().hex
        db = self.clients.dynamodb
        try:
            db.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": record_id},
                    "status": {"S": _PROGRESS},
                    "fingerprint": {"S": fingerprint},
                    "token": {"S": token},
                    "lease_expires_at": _n(now + lease),
                    "expires_at": _n(expires_at),
                    "ttl": {"N": str(_ttl(expires_at))},
                    "created_at": _n(now),
                },
                ConditionExpression=_CLAIM_CONDITION,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":now": _n(now), ":progress": {"S": _PROGRESS}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except db.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item")
            if not item:  # only when an endpoint ignores ReturnValuesOnConditionCheckFailure
                raise IdempotencyInProgressError(scope, key, None) from None
            return _existing(_record(item), fingerprint, expires)
        return Claim("claimed", scope, key, token, None, expires)

    def complete(self, claim: Claim, result_json: str, *, tx: DynamoTx | None = None) -> bool:
        """Store the JSON text of the result and mark the claim completed until
        `expires_after_s` (given to `claim`) from now.

        Without `tx`: one conditional UpdateItem; False when the claim was lost (its lease ran out
        and another caller took over). With `tx`: added to the transaction and True; a lost
        claim then cancels the transaction (see the module docstring).
        """
        size = len(result_json.encode())
        if size > MAX_RESULT_BYTES:
            raise IdempotencyResultError(
                f"the result is {size} bytes of JSON; DynamoDB stores at most {MAX_RESULT_BYTES} "
                "per record: store the data elsewhere and return a reference to it",
                scope=claim.scope,
                key=claim.key,
            )
        now = self.clock.time()
        expires_at = now + claim.expires_after
        record_id = self.record_id(claim.scope, claim.key)
        if tx is not None:
            tx.update(
                self.table,
                {"id": record_id},
                _COMPLETE,
                condition=_OURS,
                names=_COMPLETE_NAMES,
                values={
                    ":done": _DONE,
                    ":res": result_json,
                    ":exp": expires_at,
                    ":ttl": _ttl(expires_at),
                    ":now": now,
                    ":tok": claim.token,
                    ":progress": _PROGRESS,
                },
                label=self.tx_label(claim),
            )
            return True
        db = self.clients.dynamodb
        try:
            db.update_item(
                TableName=self.table,
                Key={"id": {"S": record_id}},
                UpdateExpression=_COMPLETE,
                ConditionExpression=_OURS,
                ExpressionAttributeNames=_COMPLETE_NAMES,
                ExpressionAttributeValues={
                    ":done": {"S": _DONE},
                    ":res": {"S": result_json},
                    ":exp": _n(expires_at),
                    ":ttl": {"N": str(_ttl(expires_at))},
                    ":now": _n(now),
                    ":tok": {"S": claim.token},
                    ":progress": {"S": _PROGRESS},
                },
            )
        except db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def renew(self, claim: Claim, lease_s: float) -> bool:
        """Extend the lease of a running claim to `lease_s` from now; False if it was lost."""
        now = self.clock.time()
        lease_end = now + lease_s
        expires_at = max(lease_end, now + claim.expires_after)
        db = self.clients.dynamodb
        try:
            db.update_item(
                TableName=self.table,
                Key={"id": {"S": self.record_id(claim.scope, claim.key)}},
                UpdateExpression="SET #lease = :lease, #exp = :exp, #ttl = :ttl, #upd = :now",
                ConditionExpression=_OURS,
                ExpressionAttributeNames={
                    **_OURS_NAMES,
                    "#lease": "lease_expires_at",
                    "#exp": "expires_at",
                    "#ttl": "ttl",
                    "#upd": "updated_at",
                },
                ExpressionAttributeValues={
                    ":lease": _n(lease_end),
                    ":exp": _n(expires_at),
                    ":ttl": {"N": str(_ttl(expires_at))},
                    ":now": _n(now),
                    ":tok": {"S": claim.token},
                    ":progress": {"S": _PROGRESS},
                },
            )
        except db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, claim: Claim, *, tx: DynamoTx | None = None) -> bool:
        """Delete the in-progress record of `claim` so a retry can run; False if already gone
        (with `tx`: added to the transaction, True)."""
        record_id = self.record_id(claim.scope, claim.key)
        if tx is not None:
            tx.delete(
                self.table,
                {"id": record_id},
                condition=_OURS,
                names=_OURS_NAMES,
                values={":tok": claim.token, ":progress": _PROGRESS},
                label=self.tx_label(claim),
            )
            return True
        db = self.clients.dynamodb
        try:
            db.delete_item(
                TableName=self.table,
                Key={"id": {"S": record_id}},
                ConditionExpression=_OURS,
                ExpressionAttributeNames=_OURS_NAMES,
                ExpressionAttributeValues={
                    ":tok": {"S": claim.token},
                    ":progress": {"S": _PROGRESS},
                },
            )
        except db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The record for (scope, key), or None (expired records are returned until TTL deletes
        them). A strongly consistent read."""
        response = self.clients.dynamodb.get_item(
            TableName=self.table,
            Key={"id": {"S": self.record_id(scope, key)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return None if item is None else _record(item)

    def forget(self, scope: str, key: str) -> bool:
        """Delete the record for (scope, key) whatever its state; True when one existed."""
        response = self.clients.dynamodb.delete_item(
            TableName=self.table,
            Key={"id": {"S": self.record_id(scope, key)}},
            ReturnValues="ALL_OLD",
        )
        return bool(response.get("Attributes"))


def _existing(record: IdempotencyRecord, fingerprint: str, expires_after: float) -> Claim:
    """The answer to a claim that found a live record: its stored result, or an error (the SQL
    store's order: mismatch first, then completed, else in progress)."""
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyMismatchError(record.scope, record.key)
    if record.status == _DONE:
        return Claim("completed", record.scope, record.key, record.token, record, expires_after)
    raise IdempotencyInProgressError(record.scope, record.key, record.lease_expires_at)


H = TypeVar("H", bound=Callable[[Any, Any], Any])


def _identity(value: Any) -> Any:
    return value


def idempotent_lambda(
    store: DynamoIdempotencyStore,
    *,
    key_of: str | Callable[[Any], Any],
    scope: str | None = None,
    payload: Callable[[Any], Any] | None = None,
    expires_after_s: float | None = None,
    serializer: Callable[[Any], Any] | None = None,
    deserializer: Callable[[Any], Any] | None = None,
) -> Callable[[H], H]:
    """Make a Lambda handler `handler(event, context)` run once per idempotency key.

    ```python
    store = DynamoIdempotencyStore(AwsClients(), "prod-myapp-idempotency")

    @idempotent_lambda(store, key_of="order_id", payload=lambda event: event["body"])
    def handler(event, context): ...
    ```

    - `key_of`: a top-level field of the event, or a callable taking the event. A string (or an
      int) is the key itself; any other value is replaced by its fingerprint (sha256 hex).
    - `payload`: the part of the event that must be the same on a repeat (default: the whole
      event). For API Gateway events pick the body: the request context changes on every retry
      and would make every retry a mismatch.
    - `scope`: defaults to the handler's module and qualified name.

    A repeat returns the stored result without running (one PutItem); a repeat while the first
    call runs raises IdempotencyInProgressError; the same key with another payload raises
    IdempotencyKeyMismatchError. An exception releases the key, so Lambda's retry runs again.
    The in-progress lease ends with the invocation's remaining time (from `context`) or the
    store's `lease_s`, whichever comes first. Results are stored as JSON (`serializer` and
    `deserializer` convert other types).
    """
    encode = serializer or _identity
    decode = deserializer or _identity
    pick = payload or _identity

    def key_for(event: Any, scope_name: str) -> str:
        if isinstance(key_of, str):
            try:
                raw = event[key_of]
            except (KeyError, IndexError, TypeError):
                raise IdempotencyKeyError(
                    f"the event has no field {key_of!r} to take the idempotency key from",
                    scope=scope_name,
                ) from None
        else:
            raw = key_of(event)
        if raw is None or raw == "":
            raise IdempotencyKeyError(
                "the idempotency key of this event is empty", scope=scope_name
            )
        if isinstance(raw, str):
            return raw
        if isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)
        return fingerprint(raw)

    def decorate(handler: H) -> H:
        scope_name = scope or f"{handler.__module__}.{handler.__qualname__}"
        store.record_id(scope_name, "k")  # refuse a bad scope at decoration time

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            key = key_for(event, scope_name)
            claim = store.claim(
                scope_name,
                key,
                fingerprint(pick(event)),
                lambda_context=context
                if hasattr(context, "get_remaining_time_in_millis")
                else None,
                expires_after_s=expires_after_s,
            )
            if claim.outcome == "completed":
                assert claim.record is not None
                return decode(claim.record.result)
            try:
                result = handler(event, context)
            except BaseException:
                try:
                    store.release(claim)
                except Exception:  # never mask the handler's error; the lease frees the key
                    log.warning(
                        "could not release idempotency key",
                        extra={"scope": claim.scope, "key": claim.key},
                    )
                raise
            try:
                text = json.dumps(encode(result), separators=(",", ":"), ensure_ascii=False)
                stored = store.complete(claim, text)
            except (TypeError, ValueError, IdempotencyResultError) as exc:
                store.release(claim)
                if isinstance(exc, IdempotencyResultError):
                    raise
                raise IdempotencyResultError(
                    f"the handler's result cannot be stored as JSON ({exc}); return JSON-able "
                    "data or pass serializer=/deserializer= to idempotent_lambda",
                    scope=claim.scope,
                    key=claim.key,
                ) from exc
            if not stored:
                log.warning(
                    "idempotency lease lost before completion",
                    extra={"scope": claim.scope, "key": claim.key},
                )
            return result

        return cast(H, wrapper)

    return decorate
