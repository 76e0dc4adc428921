"""Idempotency records in DynamoDB: one conditional PutItem per claim (see `handler` for the
Lambda decorator).

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

import uuid
from typing import Protocol

from seawall.aws.clients import AwsClients
from seawall.aws.idempotency.items import (
    CLAIM_CONDITION,
    COMPLETE,
    COMPLETE_NAMES,
    DONE,
    MAX_ID_BYTES,
    MAX_RESULT_BYTES,
    NAMES,
    OURS,
    OURS_NAMES,
    PROGRESS,
    number,
    record_of,
    ttl_of,
)
from seawall.aws.transact import DynamoTx, to_item
from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.idempotency.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyResultError,
)
from seawall.idempotency.store import (
    DEFAULT_EXPIRES_AFTER_S,
    DEFAULT_LEASE_S,
    Claim,
    IdempotencyRecord,
    check_key,
    existing_claim,
)

__all__ = ["DynamoIdempotencyStore", "LambdaContextLike"]


class LambdaContextLike(Protocol):
    """The part of the Lambda context object seawall reads."""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda ends this invocation."""
        ...


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
                    "status": {"S": PROGRESS},
                    "fingerprint": {"S": fingerprint},
                    "token": {"S": token},
                    "lease_expires_at": number(now + lease),
                    "expires_at": number(expires_at),
                    "ttl": {"N": str(ttl_of(expires_at))},
                    "created_at": number(now),
                },
                ConditionExpression=CLAIM_CONDITION,
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues={":now": number(now), ":progress": {"S": PROGRESS}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except db.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item")
            if not item:  # only when an endpoint ignores ReturnValuesOnConditionCheckFailure
                raise IdempotencyInProgressError(scope, key, None) from None
            return existing_claim(record_of(item), fingerprint, expires)
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
        values = {
            ":done": DONE,
            ":res": result_json,
            ":exp": expires_at,
            ":ttl": ttl_of(expires_at),
            ":now": now,
            ":tok": claim.token,
            ":progress": PROGRESS,
        }
        if tx is not None:
            tx.update(
                self.table,
                {"id": record_id},
                COMPLETE,
                condition=OURS,
                names=COMPLETE_NAMES,
                values=values,
                label=self.tx_label(claim),
            )
            return True
        db = self.clients.dynamodb
        try:
            db.update_item(
                TableName=self.table,
                Key={"id": {"S": record_id}},
                UpdateExpression=COMPLETE,
                ConditionExpression=OURS,
                ExpressionAttributeNames=COMPLETE_NAMES,
                ExpressionAttributeValues=to_item(values),
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
                ConditionExpression=OURS,
                ExpressionAttributeNames={
                    **OURS_NAMES,
                    "#lease": "lease_expires_at",
                    "#exp": "expires_at",
                    "#ttl": "ttl",
                    "#upd": "updated_at",
                },
                ExpressionAttributeValues={
                    ":lease": number(lease_end),
                    ":exp": number(expires_at),
                    ":ttl": {"N": str(ttl_of(expires_at))},
                    ":now": number(now),
                    ":tok": {"S": claim.token},
                    ":progress": {"S": PROGRESS},
                },
            )
        except db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, claim: Claim, *, tx: DynamoTx | None = None) -> bool:
        """Delete the in-progress record of `claim` so a retry can run; False if already gone
        (with `tx`: added to the transaction, True)."""
        record_id = self.record_id(claim.scope, claim.key)
        values = {":tok": claim.token, ":progress": PROGRESS}
        if tx is not None:
            tx.delete(
                self.table,
                {"id": record_id},
                condition=OURS,
                names=OURS_NAMES,
                values=values,
                label=self.tx_label(claim),
            )
            return True
        db = self.clients.dynamodb
        try:
            db.delete_item(
                TableName=self.table,
                Key={"id": {"S": record_id}},
                ConditionExpression=OURS,
                ExpressionAttributeNames=OURS_NAMES,
                ExpressionAttributeValues=to_item(values),
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
        return None if item is None else record_of(item)

    def forget(self, scope: str, key: str) -> bool:
        """Delete the record for (scope, key) whatever its state; True when one existed."""
        response = self.clients.dynamodb.delete_item(
            TableName=self.table,
            Key={"id": {"S": self.record_id(scope, key)}},
            ReturnValues="ALL_OLD",
        )
        return bool(response.get("Attributes"))
