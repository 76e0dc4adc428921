"""DynamoIdempotencyStore and idempotent_lambda against a real (moto) DynamoDB endpoint."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from seawall.aws.clients import AwsClients
from seawall.aws.idempotency import DynamoIdempotencyStore, idempotent_lambda
from seawall.aws.resources import AwsNames, QueueUrls
from seawall.aws.transact import DynamoTx, TransactionCancelledError
from seawall.idempotency.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
    IdempotencyResultError,
)
from seawall.idempotency.store import MAX_KEY_LENGTH, fingerprint
from seawall.testing import FakeClock

FP = fingerprint({"amount": 100})
OTHER_FP = fingerprint({"amount": 200})


class Context:
    """A Lambda context with a fixed remaining time."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(aws: AwsClients, names: AwsNames, resources: QueueUrls, clock: FakeClock) -> Any:
    return DynamoIdempotencyStore(
        aws, names.idempotency_table, clock=clock, expires_after_s=3600, lease_s=60
    )


@pytest.fixture
def atomic_moto_puts() -> Iterator[None]:
    """Make moto's conditional writes atomic, as DynamoDB's are.

    moto's server (in this process) handles requests on threads and checks a PutItem's
    condition before writing without a lock, so two concurrent puts can both pass the check;
    DynamoDB evaluates condition and write atomically. Serialising moto's put models DynamoDB.
    """
    from moto.dynamodb.models.table import Table

    original = Table.put_item
    lock = threading.Lock()

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    Table.put_item = put_item  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.put_item = original  # type: ignore[method-assign]


def raw_item(aws: AwsClients, table: str, record_id: str) -> dict[str, Any] | None:
    item = aws.dynamodb.get_item(TableName=table, Key={"id": {"S": record_id}}, ConsistentRead=True)
    return item.get("Item")


def test_first_claim_wins_and_costs_one_put(store: Any, aws: AwsClients) -> None:
    claim = store.claim("charge", "order-1", FP)
    assert claim.outcome == "claimed"
    assert aws.calls == {"dynamodb.PutItem": 1}
    with pytest.raises(IdempotencyInProgressError) as info:
        store.claim("charge", "order-1", FP)
    assert info.value.lease_expires_at == store.clock.time() + 60
    assert aws.calls == {"dynamodb.PutItem": 2}  # the repeat too: no read before or after
    # Other scopes and keys are independent.
    assert store.claim("refund", "order-1", FP).outcome == "claimed"
    assert store.claim("charge", "order-2", FP).outcome == "claimed"


def test_twenty_concurrent_claimers_one_wins(store: Any, atomic_moto_puts: None) -> None:
    barrier = threading.Barrier(20)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            return store.claim("charge", "contended", FP).outcome
        except IdempotencyInProgressError:
            return "in_progress"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    assert outcomes.count("claimed") == 1
    assert outcomes.count("in_progress") == 19


def test_repeat_returns_stored_result(store: Any, aws: AwsClients, clock: FakeClock) -> None:
    claim = store.claim("charge", "order-1", FP)
    assert store.complete(claim, json.dumps({"charge_id": "ch_1", "amount": 100}))
    assert aws.calls == {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1}
    aws.calls.clear()
    clock.advance(3599)
    again = store.claim("charge", "order-1", FP)
    assert again.outcome == "completed"
    assert again.record is not None
    assert again.record.result == {"charge_id": "ch_1", "amount": 100}
    assert again.record.status == "completed"
    assert again.record.lease_expires_at is None
    assert aws.calls == {"dynamodb.PutItem": 1}
    # A completed call does not block a second complete of a lost claim.
    assert not store.complete(claim, "{}")


def test_fingerprint_mismatch(store: Any) -> None:
    claim = store.claim("charge", "order-1", FP)
    with pytest.raises(IdempotencyKeyMismatchError):
        store.claim("charge", "order-1", OTHER_FP)
    store.complete(claim, "1")
    with pytest.raises(IdempotencyKeyMismatchError):
        store.claim("charge", "order-1", OTHER_FP)


def test_expired_record_is_claimed_again(store: Any, clock: FakeClock) -> None:
    claim = store.claim("charge", "order-1", FP, expires_after_s=10)
    store.complete(claim, "1")
    clock.advance(10)
    fresh = store.claim("charge", "order-1", OTHER_FP)  # an expired key is free, any payload
    assert fresh.outcome == "claimed"


def test_lease_takeover_after_expiry(store: Any, clock: FakeClock, aws: AwsClients) -> None:
    first = store.claim("charge", "order-1", FP)
    clock.advance(59)
    with pytest.raises(IdempotencyInProgressError):
        store.claim("charge", "order-1", FP)
    clock.advance(1)  # the lease ends at exactly now: stale, as in the SQL store
    aws.calls.clear()
    second = store.claim("charge", "order-1", FP)
    assert second.outcome == "claimed"
    assert second.token != first.token
    assert aws.calls == {"dynamodb.PutItem": 1}  # the take-over is the same single put
    # The first holder lost the key: it can neither complete nor release it.
    assert not store.complete(first, '"late"')
    assert not store.release(first)
    assert store.complete(second, '"ok"')
    found = store.claim("charge", "order-1", FP)
    assert found.record is not None
    assert found.record.result == "ok"


def test_lambda_remaining_time_bounds_the_lease(store: Any, clock: FakeClock) -> None:
    now = clock.time()
    store.claim("charge", "short", FP, lambda_context=Context(remaining_ms=5_000))
    record = store.get("charge", "short")
    assert record.lease_expires_at == now + 5
    clock.advance(5)
    assert store.claim("charge", "short", FP).outcome == "claimed"
    # A long remaining time is capped at lease_s.
    store.claim("charge", "long", FP, lambda_context=Context(remaining_ms=900_000))
    assert store.get("charge", "long").lease_expires_at == clock.time() + 60


def test_complete_inside_transaction(
    store: Any, aws: AwsClients, names: AwsNames, resources: QueueUrls
) -> None:
    table = names.inbox_table
    claim = store.claim("charge", "order-1", FP)
    aws.calls.clear()
    tx = DynamoTx(aws)
    tx.put(table, {"source": "shop", "event_id": "e1", "amount": 100})
    assert store.complete(claim, '{"ok":true}', tx=tx)
    assert aws.calls == {}  # nothing is written before the commit
    assert store.get("charge", "order-1").status == "in_progress"
    aws.calls.clear()
    tx.commit()
    assert aws.calls == {"dynamodb.TransactWriteItems": 1}
    record = store.get("charge", "order-1")
    assert record.status == "completed"
    assert record.result == {"ok": True}
    effect = aws.dynamodb.get_item(
        TableName=table, Key={"source": {"S": "shop"}, "event_id": {"S": "e1"}}
    )
    assert effect["Item"]["amount"] == {"N": "100"}


def test_cancelled_transaction_writes_nothing(
    store: Any, aws: AwsClients, names: AwsNames, resources: QueueUrls
) -> None:
    table = names.inbox_table
    aws.dynamodb.put_item(TableName=table, Item={"source": {"S": "shop"}, "event_id": {"S": "e1"}})
    claim = store.claim("charge", "order-1", FP)
    tx = DynamoTx(aws)
    tx.put(table, {"source": "shop", "event_id": "e2", "amount": 1}, label="effect")
    tx.put(
        table,
        {"source": "shop", "event_id": "e1"},
        condition="attribute_not_exists(event_id)",
        label="mark",
    )
    store.complete(claim, "1", tx=tx)
    with pytest.raises(TransactionCancelledError) as info:
        tx.commit()
    assert info.value.failed("mark")
    assert not info.value.failed(store.tx_label(claim))
    assert store.get("charge", "order-1").status == "in_progress"
    missing = aws.dynamodb.get_item(
        TableName=table, Key={"source": {"S": "shop"}, "event_id": {"S": "e2"}}
    )
    assert "Item" not in missing
    # The claim is still ours: release frees the key for a retry.
    assert store.release(claim)
    assert store.claim("charge", "order-1", FP).outcome == "claimed"


def test_lost_lease_cancels_the_transaction(
    store: Any, aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    table = names.inbox_table
    first = store.claim("charge", "order-1", FP)
    clock.advance(60)
    store.claim("charge", "order-1", FP)  # another caller takes over
    tx = DynamoTx(aws)
    tx.put(table, {"source": "shop", "event_id": "e9"})
    store.complete(first, "1", tx=tx)
    with pytest.raises(TransactionCancelledError) as info:
        tx.commit()
    assert info.value.failed(store.tx_label(first))
    missing = aws.dynamodb.get_item(
        TableName=table, Key={"source": {"S": "shop"}, "event_id": {"S": "e9"}}
    )
    assert "Item" not in missing


def test_release(store: Any, aws: AwsClients) -> None:
    claim = store.claim("charge", "order-1", FP)
    aws.calls.clear()
    assert store.release(claim)
    assert aws.calls == {"dynamodb.DeleteItem": 1}
    assert store.get("charge", "order-1") is None
    assert not store.release(claim)
    # After release any payload may claim the key.
    again = store.claim("charge", "order-1", OTHER_FP)
    assert again.outcome == "claimed"
    store.complete(again, "1")
    assert not store.release(again)  # a completed record is not released
    assert store.get("charge", "order-1").status == "completed"


def test_release_inside_transaction(store: Any, aws: AwsClients) -> None:
    claim = store.claim("charge", "order-1", FP)
    tx = DynamoTx(aws)
    assert store.release(claim, tx=tx)
    tx.commit()
    assert store.get("charge", "order-1") is None


def test_ttl_attribute_is_the_expiry(
    store: Any, aws: AwsClients, names: AwsNames, clock: FakeClock
) -> None:
    clock.set(1_700_000_000.25)
    claim = store.claim("charge", "order-1", FP, lease_s=30)
    item = raw_item(aws, names.idempotency_table, "charge#order-1")
    assert item is not None
    assert item["ttl"] == {"N": str(math.ceil(1_700_000_000.25 + 3600))}
    assert float(item["expires_at"]["N"]) == 1_700_000_000.25 + 3600
    clock.advance(10)
    store.complete(claim, "1")
    item = raw_item(aws, names.idempotency_table, "charge#order-1")
    assert item is not None
    assert item["ttl"] == {"N": str(math.ceil(1_700_000_010.25 + 3600))}
    assert "lease_expires_at" not in item
    ttl = aws.dynamodb.describe_time_to_live(TableName=names.idempotency_table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl"


def test_renew_and_forget(store: Any, clock: FakeClock) -> None:
    claim = store.claim("charge", "order-1", FP)
    clock.advance(50)
    assert store.renew(claim, 60)
    clock.advance(50)
    with pytest.raises(IdempotencyInProgressError):
        store.claim("charge", "order-1", FP)
    assert store.forget("charge", "order-1")
    assert not store.forget("charge", "order-1")
    assert not store.renew(claim, 60)


def test_key_rules_are_the_sql_stores(store: Any, aws: AwsClients) -> None:
    with pytest.raises(IdempotencyKeyError):
        store.claim("charge", "", FP)
    with pytest.raises(IdempotencyKeyError):
        store.claim("charge", "k" * (MAX_KEY_LENGTH + 1), FP)
    with pytest.raises(IdempotencyKeyError):
        store.claim("a#b", "k", FP)
    with pytest.raises(IdempotencyKeyError):
        store.claim("s" * 2000, "k" * MAX_KEY_LENGTH, FP)
    assert aws.calls == {}
    assert store.claim("charge", "k" * MAX_KEY_LENGTH, FP).outcome == "claimed"
    # A key may hold '#': the id splits at the first one, which ends the scope.
    store.claim("charge", "a#b", FP)
    record = store.get("charge", "a#b")
    assert (record.scope, record.key, record.fingerprint) == ("charge", "a#b", FP)


def test_oversized_result_is_refused(store: Any) -> None:
    claim = store.claim("charge", "order-1", FP)
    with pytest.raises(IdempotencyResultError):
        store.complete(claim, json.dumps("x" * 400_000))


# -- idempotent_lambda -------------------------------------------------------------------------


def test_lambda_decorator_runs_once_per_key(store: Any, aws: AwsClients) -> None:
    runs: list[str] = []

    @idempotent_lambda(store, key_of="order_id", scope="charge")
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        runs.append(event["order_id"])
        return {"status": 200, "charged": event["amount"]}

    event = {"order_id": "o-1", "amount": 100}
    assert handler(event, Context(30_000)) == {"status": 200, "charged": 100}
    assert aws.calls == {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1}
    aws.calls.clear()
    assert handler(dict(event), Context(30_000)) == {"status": 200, "charged": 100}
    assert aws.calls == {"dynamodb.PutItem": 1}
    assert runs == ["o-1"]
    with pytest.raises(IdempotencyKeyMismatchError):
        handler({"order_id": "o-1", "amount": 5}, Context(30_000))


def test_lambda_decorator_releases_on_error_and_uses_the_context(
    store: Any, clock: FakeClock
) -> None:
    attempts: list[int] = []

    @idempotent_lambda(store, key_of=lambda e: e["body"]["id"], payload=lambda e: e["body"])
    def handler(event: dict[str, Any], context: Any) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("downstream failed")
        lease = store.get(handler_scope, "42").lease_expires_at
        return int(lease - clock.time())

    handler_scope = (
        f"{__name__}.test_lambda_decorator_releases_on_error_and_uses_the_context.<locals>.handler"
    )
    with pytest.raises(RuntimeError):
        handler({"body": {"id": 42}, "requestContext": {"requestId": "a"}}, Context(7_000))
    # The retry runs again (the key was released), with a new request context and a lease
    # ending with the invocation.
    assert handler({"body": {"id": 42}, "requestContext": {"requestId": "b"}}, Context(7_000)) == 7
    assert handler({"body": {"id": 42}, "requestContext": {"requestId": "c"}}, None) == 7
    assert len(attempts) == 2


def test_lambda_decorator_in_progress_and_bad_results(store: Any) -> None:
    inner: list[Any] = []

    @idempotent_lambda(store, key_of="id", scope="nested")
    def handler(event: dict[str, Any], context: Any) -> Any:
        if event.get("reenter"):
            try:
                handler(event, context)
            except IdempotencyInProgressError as exc:
                inner.append(exc)
        return {1, 2} if event.get("bad") else "ok"

    assert handler({"id": "a", "reenter": True}, None) == "ok"
    assert len(inner) == 1
    with pytest.raises(IdempotencyResultError):
        handler({"id": "b", "bad": True}, None)
    assert store.get("nested", "b") is None  # released
    with pytest.raises(IdempotencyKeyError):
        handler({"no_id": 1}, None)
