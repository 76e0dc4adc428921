"""One idempotency-record contract, every backend: SQLite, PostgreSQL and DynamoDB (moto).

Every backend is typed as `IdempotencyPersistence`: the SQL store implements it, and the
blocking DynamoDB store through its async view (`AsyncDynamoIdempotencyStore`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from seawall.idempotency.api import IdempotencyPersistence
from seawall.idempotency.errors import IdempotencyInProgressError, IdempotencyKeyMismatchError
from seawall.idempotency.store import Claim, IdempotencyRecord, IdempotencyStore
from seawall.store import open_store
from seawall.testing import FakeClock
from tests.conftest import dispose, require_postgres, unique_schema

_tables = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Records:
    """One engine's records, typed as the protocol every engine implements, and its clock."""

    store: IdempotencyPersistence
    clock: FakeClock

    async def claim(self, scope: str, key: str, fingerprint: str) -> Claim:
        return await self.store.claim(scope, key, fingerprint)

    async def complete(self, claim: Claim, result_json: str) -> bool:
        return await self.store.complete(claim, result_json)

    async def release(self, claim: Claim) -> bool:
        return await self.store.release(claim)

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        return await self.store.get(scope, key)


@pytest_asyncio.fixture(params=["sqlite", "postgresql", "dynamodb"])
async def records(request: pytest.FixtureRequest) -> AsyncIterator[Records]:
    clock = FakeClock()
    if request.param == "dynamodb":
        from seawall.aws.clients import AwsClients
        from seawall.aws.idempotency import AsyncDynamoIdempotencyStore, DynamoIdempotencyStore
        from seawall.aws.resources import AwsNames, ensure_resources

        clients = AwsClients(
            region="us-east-1", endpoint_url=request.getfixturevalue("aws_endpoint")
        )
        names = AwsNames(f"idem-contract-{next(_tables)}")
        ensure_resources(clients, names)
        dynamo = DynamoIdempotencyStore(clients, names.idempotency_table, clock=clock, lease_s=60)
        yield Records(AsyncDynamoIdempotencyStore(dynamo), clock)
        return
    if request.param == "sqlite":
        url = f"sqlite:///{request.getfixturevalue('tmp_path')}/idem.db"
    else:
        url = f"{require_postgres()}?schema={unique_schema()}"
    store = open_store(url, clock=clock)
    await store.migrate()
    try:
        yield Records(IdempotencyStore(store, lease_s=60), clock)
    finally:
        await dispose(store)


async def test_of_concurrent_claimers_exactly_one_wins(records: Records) -> None:
    outcomes = await asyncio.gather(
        *(records.claim("pay", "k1", "fp") for _ in range(8)), return_exceptions=True
    )
    won = [o for o in outcomes if isinstance(o, Claim) and o.outcome == "claimed"]
    busy = [o for o in outcomes if isinstance(o, IdempotencyInProgressError)]
    assert len(won) == 1 and len(busy) == 7


async def test_a_completed_key_answers_with_its_stored_result(records: Records) -> None:
    claim = await records.claim("pay", "k1", "fp")
    assert await records.complete(claim, '{"charged": 100}')
    again = await records.claim("pay", "k1", "fp")
    assert again.outcome == "completed"
    assert again.record is not None and again.record.result == {"charged": 100}
    with pytest.raises(IdempotencyKeyMismatchError):
        await records.claim("pay", "k1", "another fingerprint")


async def test_a_released_key_can_be_claimed_again(records: Records) -> None:
    claim = await records.claim("pay", "k1", "fp")
    assert await records.release(claim)
    assert await records.get("pay", "k1") is None
    assert (await records.claim("pay", "k1", "fp")).outcome == "claimed"


async def test_a_crashed_holder_is_taken_over_after_its_lease(records: Records) -> None:
    first = await records.claim("pay", "k1", "fp")
    with pytest.raises(IdempotencyInProgressError):
        await records.claim("pay", "k1", "fp")
    records.clock.advance(61)
    second = await records.claim("pay", "k1", "fp")
    assert second.outcome == "claimed" and second.token != first.token
    assert not await records.complete(first, '{"late": true}')  # the first holder lost its lease
    assert await records.complete(second, '{"ok": true}')
    record = await records.get("pay", "k1")
    assert record is not None and record.result == {"ok": True}


async def test_a_renewed_lease_holds_the_key_and_a_forgotten_key_is_free(records: Records) -> None:
    claim = await records.claim("pay", "k1", "fp")
    records.clock.advance(50)
    assert await records.store.renew(claim, 60)
    records.clock.advance(50)  # past the first lease, within the renewed one
    with pytest.raises(IdempotencyInProgressError):
        await records.claim("pay", "k1", "fp")
    assert await records.store.forget("pay", "k1")
    assert not await records.store.forget("pay", "k1")
    assert await records.get("pay", "k1") is None
    assert (await records.claim("pay", "k1", "fp")).outcome == "claimed"
