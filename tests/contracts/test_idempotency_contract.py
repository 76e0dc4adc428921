"""One idempotency-record contract, every backend: SQLite, PostgreSQL and DynamoDB (moto).

The DynamoDB store is synchronous (it serves Lambda handlers); the suite drives it through
threads so the same async tests run against all three.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from seawall.idempotency.errors import IdempotencyInProgressError, IdempotencyKeyMismatchError
from seawall.idempotency.store import Claim, IdempotencyRecord, IdempotencyStore
from seawall.store import open_store
from seawall.testing import FakeClock
from tests.conftest import dispose, require_postgres, unique_schema

_tables = itertools.count(1)


class Records:
    """The async claim/complete/release/get surface both stores share, plus the clock."""

    def __init__(self, target: Any, clock: FakeClock, threaded: bool) -> None:
        self.target = target
        self.clock = clock
        self.threaded = threaded

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.target, name)
        if self.threaded:
            return await asyncio.to_thread(method, *args, **kwargs)
        return await method(*args, **kwargs)

    async def claim(self, scope: str, key: str, fingerprint: str) -> Claim:
        return await self._call("claim", scope, key, fingerprint)  # type: ignore[no-any-return]

    async def complete(self, claim: Claim, result_json: str) -> bool:
        return await self._call("complete", claim, result_json)  # type: ignore[no-any-return]

    async def release(self, claim: Claim) -> bool:
        return await self._call("release", claim)  # type: ignore[no-any-return]

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        return await self._call("get", scope, key)  # type: ignore[no-any-return]


@pytest_asyncio.fixture(params=["sqlite", "postgresql", "dynamodb"])
async def records(request: pytest.FixtureRequest) -> AsyncIterator[Records]:
    clock = FakeClock()
    if request.param == "dynamodb":
        from seawall.aws.clients import AwsClients
        from seawall.aws.idempotency import DynamoIdempotencyStore
        from seawall.aws.resources import AwsNames, ensure_resources

        clients = AwsClients(
            region="us-east-1", endpoint_url=request.getfixturevalue("aws_endpoint")
        )
        names = AwsNames(f"idem-contract-{next(_tables)}")
        ensure_resources(clients, names)
        yield Records(
            DynamoIdempotencyStore(clients, names.idempotency_table, clock=clock, lease_s=60),
            clock,
            threaded=True,
        )
        return
    if request.param == "sqlite":
        url = f"sqlite:///{request.getfixturevalue('tmp_path')}/idem.db"
    else:
        url = f"{require_postgres()}?schema={unique_schema()}"
    store = open_store(url, clock=clock)
    await store.migrate()
    try:
        yield Records(IdempotencyStore(store, lease_s=60), clock, threaded=False)
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
