"""Idempotency records on both engines: every state, takeover after lease expiry, expiry, purge."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from seawall.idempotency import (
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
    IdempotencyPayloadError,
    IdempotencyStore,
    fingerprint,
)
from seawall.store import Store
from seawall.store.sqlite import SqliteStore
from seawall.testing import FakeClock


def test_fingerprint_is_canonical_and_rejects_non_json() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint(b"raw") != fingerprint("raw")
    with pytest.raises(IdempotencyPayloadError, match="payload="):
        fingerprint({"x": object()})


async def test_claim_complete_replay(store: Store) -> None:
    records = IdempotencyStore(store)
    first = await records.claim("s", "k1", "fp")
    assert first.outcome == "claimed"
    record = await records.get("s", "k1")
    assert record is not None and record.status == "in_progress" and record.result is None
    assert await records.complete(first, '{"ok": true}')
    again = await records.claim("s", "k1", "fp")
    assert again.outcome == "completed"
    assert again.record is not None and again.record.result == {"ok": True}
    # the same key in another scope is independent
    assert (await records.claim("other", "k1", "fp2")).outcome == "claimed"


async def test_in_progress_and_mismatch(store: Store) -> None:
    records = IdempotencyStore(store)
    claim = await records.claim("s", "k", "fp")
    with pytest.raises(IdempotencyInProgressError) as info:
        await records.claim("s", "k", "fp")
    assert info.value.lease_expires_at == pytest.approx(store.clock.time() + 60.0)
    with pytest.raises(IdempotencyKeyMismatchError):
        await records.claim("s", "k", "other-fp")
    await records.complete(claim, "1")
    with pytest.raises(IdempotencyKeyMismatchError):
        await records.claim("s", "k", "other-fp")


async def test_release_lets_a_retry_claim(store: Store) -> None:
    records = IdempotencyStore(store)
    claim = await records.claim("s", "k", "fp")
    assert await records.release(claim)
    assert await records.get("s", "k") is None
    retry = await records.claim("s", "k", "fp")
    assert retry.outcome == "claimed" and retry.token != claim.token
    assert not await records.release(claim)  # a stale token frees nothing


async def test_expired_lease_is_taken_over_once(store: Store, clock: FakeClock) -> None:
    records = IdempotencyStore(store)
    crashed = await records.claim("s", "k", "fp", lease_s=5)
    clock.advance(4.9)
    with pytest.raises(IdempotencyInProgressError):
        await records.claim("s", "k", "fp")
    clock.advance(0.2)
    takers = await asyncio.gather(
        *(records.claim("s", "k", "fp", lease_s=5) for _ in range(10)), return_exceptions=True
    )
    won = [t for t in takers if not isinstance(t, BaseException)]
    assert len(won) == 1 and won[0].outcome == "claimed"
    assert all(isinstance(t, IdempotencyInProgressError) for t in takers if t not in won)
    assert not await records.complete(crashed, '"late"')  # the crashed holder lost its claim
    assert await records.complete(won[0], '"fresh"')
    done = await records.claim("s", "k", "fp")
    assert done.record is not None and done.record.result == "fresh"


async def test_completed_record_expires(store: Store, clock: FakeClock) -> None:
    records = IdempotencyStore(store, expires_after=100)
    await records.complete(await records.claim("s", "k", "fp"), "1")
    clock.advance(99)
    assert (await records.claim("s", "k", "fp")).outcome == "completed"
    clock.advance(2)
    # expired: the key is free again, even for another payload
    assert (await records.claim("s", "k", "new-fp")).outcome == "claimed"


async def test_purge_expired_and_forget(store: Store, clock: FakeClock) -> None:
    records = IdempotencyStore(store, expires_after=10)
    await records.complete(await records.claim("s", "old", "fp"), "1")
    clock.advance(11)
    await records.claim("s", "new", "fp")
    assert await records.purge_expired() == 1
    assert await records.get("s", "old") is None
    assert await records.forget("s", "new")
    assert await records.get("s", "new") is None


async def test_bad_keys_are_named_errors(store: Store) -> None:
    records = IdempotencyStore(store)
    with pytest.raises(IdempotencyKeyError):
        await records.claim("s", "", "fp")
    with pytest.raises(IdempotencyKeyError, match="limit is 255"):
        await records.claim("s", "x" * 256, "fp")
    with pytest.raises(ValueError):
        IdempotencyStore(store, expires_after=0)


async def test_claim_and_complete_join_the_callers_transaction(store: Store) -> None:
    records = IdempotencyStore(store)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            claim = await records.claim("s", "k", "fp", tx=tx)
            await records.complete(claim, "1", tx=tx)
            raise RuntimeError("effects failed")
    assert await records.get("s", "k") is None  # rolled back with the caller's effects
    async with store.transaction() as tx:
        claim = await records.claim("s", "k", "fp", tx=tx)
        await records.complete(claim, "2", tx=tx)
    record = await records.get("s", "k")
    assert record is not None and record.status == "completed" and record.result == 2


async def test_concurrent_first_claims_one_wins_the_rest_see_its_record(store: Store) -> None:
    records = IdempotencyStore(store)
    outcomes = await asyncio.gather(
        *(records.claim("s", "new", "fp", lease_s=30) for _ in range(20)), return_exceptions=True
    )
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    lost = [o for o in outcomes if isinstance(o, IdempotencyInProgressError)]
    assert len(won) == 1 and won[0].outcome == "claimed" and len(lost) == 19
    # every loser read the winner's record, even one committed while its own insert waited
    assert [e.lease_expires_at for e in lost] == [pytest.approx(store.clock.time() + 30)] * 19


async def test_a_holder_completing_after_its_lease_keeps_its_result(
    store: Store, clock: FakeClock
) -> None:
    records = IdempotencyStore(store)
    slow = await records.claim("s", "k", "fp", lease_s=5)
    clock.advance(6)
    assert await records.complete(slow, '"late but stored"')  # nobody took the key over
    again = await records.claim("s", "k", "fp")
    assert again.outcome == "completed" and again.record is not None
    assert again.record.result == "late but stored"
    with pytest.raises(IdempotencyKeyMismatchError):
        await records.claim("s", "k", "other-fp")


async def test_a_repeat_writes_nothing(store: Store) -> None:
    records = IdempotencyStore(store)
    await records.complete(await records.claim("s", "k", "fp"), "1")
    if isinstance(store, SqliteStore):
        watcher = sqlite3.connect(store.path)
        try:
            before = watcher.execute("PRAGMA data_version").fetchone()[0]
            for _ in range(3):
                assert (await records.claim("s", "k", "fp")).outcome == "completed"
            with pytest.raises(IdempotencyKeyMismatchError):
                await records.claim("s", "k", "other-fp")
            assert watcher.execute("PRAGMA data_version").fetchone()[0] == before
        finally:
            watcher.close()
    else:
        for _ in range(3):
            assert (await records.claim("s", "k", "fp")).outcome == "completed"
        async with store.read() as tx:
            # no row lock was taken (a lock would leave the locker's transaction id in xmax)
            xmax = await tx.fetchval(
                "SELECT xmax::text FROM seawall_idempotency WHERE scope = ? AND key = ?",
                ("s", "k"),
            )
        assert xmax == "0"
