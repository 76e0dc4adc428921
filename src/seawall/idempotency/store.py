"""Idempotency records in the shared store: atomic claim, completion with a result, release.

A record is keyed by (scope, key). Its life:

- `claim` inserts an `in_progress` record with `INSERT ... ON CONFLICT DO NOTHING`, so of any
  number of concurrent claimers exactly one wins, on SQLite and PostgreSQL alike. The record
  carries a lease (`lease_expires_at`): a caller that crashes never leaves the key stuck, because
  a later claim takes over an in-progress record whose lease has run out (a guarded UPDATE on the
  record's token, so again exactly one taker wins).
- `complete` stores the JSON result and marks the record `completed` until `expires_at`
  (default one hour). It may run in the caller's own transaction, so effects and the record
  commit together.
- `release` deletes an in-progress record after a failure, so a retry can run.

Every time comes from `store.clock.time()`, so a FakeClock drives expiry in tests.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from seawall.idempotency.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
    IdempotencyPayloadError,
)
from seawall.store import Row, Store, Tx

__all__ = [
    "DEFAULT_EXPIRES_AFTER_S",
    "DEFAULT_LEASE_S",
    "MAX_KEY_LENGTH",
    "Claim",
    "IdempotencyRecord",
    "IdempotencyStore",
    "fingerprint",
]

DEFAULT_EXPIRES_AFTER_S = 3600.0
DEFAULT_LEASE_S = 60.0
MAX_KEY_LENGTH = 255

Status = Literal["in_progress", "completed"]


def fingerprint(payload: Any) -> str:
    """The sha256 hex digest of the canonical JSON of `payload` (sorted keys, no spaces)."""
    if isinstance(payload, bytes):
        return hashlib.sha256(payload).hexdigest()
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise IdempotencyPayloadError(
            f"cannot fingerprint the payload as JSON ({exc}); pass payload= to pick JSON-able "
            "parts of the arguments"
        ) from exc
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """One stored record; `result` is the decoded JSON result of a completed call."""

    scope: str
    key: str
    status: Status
    fingerprint: str
    token: str
    lease_expires_at: float | None
    expires_at: float
    result: Any
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> IdempotencyRecord:
        """Build a record from a database row."""
        raw = row["result"]
        return cls(
            scope=row["scope"],
            key=row["key"],
            status=row["status"],
            fingerprint=row["fingerprint"],
            token=row["token"],
            lease_expires_at=row["lease_expires_at"],
            expires_at=row["expires_at"],
            result=None if raw is None else json.loads(raw),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of a claim: `claimed` (run the work, then complete or release) or `completed`.

    For `completed`, `record.result` holds the stored result to return instead of running.
    """

    outcome: Literal["claimed", "completed"]
    scope: str
    key: str
    token: str
    record: IdempotencyRecord | None = None
    expires_after: float = DEFAULT_EXPIRES_AFTER_S


_SELECT = (
    "SELECT scope, key, status, fingerprint, token, lease_expires_at, expires_at, result, "
    "created_at, updated_at FROM seawall_idempotency WHERE scope = ? AND key = ?"
)


def check_key(scope: str, key: str) -> None:
    """Raise IdempotencyKeyError unless `key` is a non-empty string of at most 255 characters."""
    if not isinstance(key, str) or not key:
        raise IdempotencyKeyError(
            f"idempotency key must be a non-empty string, got {key!r}", scope=scope, key=str(key)
        )
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyError(
            f"idempotency key is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}",
            scope=scope,
            key=key[:40],
        )


class IdempotencyStore:
    """Claims, completes and releases idempotency records in a seawall store."""

    def __init__(
        self,
        store: Store,
        *,
        expires_after: float = DEFAULT_EXPIRES_AFTER_S,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        if expires_after <= 0 or lease_s <= 0:
            raise ValueError("expires_after and lease_s must be positive seconds")
        self.store = store
        self.expires_after = expires_after
        self.lease_s = lease_s

    @asynccontextmanager
    async def _tx(self, tx: Tx | None) -> AsyncIterator[Tx]:
        if tx is not None:
            yield tx
        else:
            async with self.store.transaction() as own:
                yield own

    async def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        lease_s: float | None = None,
        expires_after: float | None = None,
        tx: Tx | None = None,
    ) -> Claim:
        """Claim (scope, key) atomically, or return the completed record's stored result.

        Raises IdempotencyKeyMismatchError when the key was used with another fingerprint, and
        IdempotencyInProgressError while another holder's lease is still running.
        """
        check_key(scope, key)
        now = self.store.clock.time()
        lease = self.lease_s if lease_s is None else lease_s
        expires = self.expires_after if expires_after is None else expires_after
        # The record must outlive its lease, or an expired record would be taken over mid-run.
        expires_at = now + max(expires, lease)
        token = uuid.uuid4().hex
        if tx is None:
            # Fast path for repeats: a completed, unexpired record is answered from a read-only
            # snapshot, without taking the write lock. Anything else goes to the atomic claim.
            async with self.store.read() as r:
                row = await r.fetchone(_SELECT, (scope, key))
            if row is not None and row["status"] == "completed" and row["expires_at"] > now:
                record = IdempotencyRecord.from_row(row)
                if record.fingerprint != fingerprint:
                    raise IdempotencyKeyMismatchError(scope, key)
                return Claim("completed", scope, key, record.token, record, expires)
        async with self._tx(tx) as t:
            inserted = await t.execute(
                "INSERT INTO seawall_idempotency (scope, key, status, fingerprint, token, "
                "lease_expires_at, expires_at, result, created_at, updated_at) "
                "VALUES (?, ?, 'in_progress', ?, ?, ?, ?, NULL, ?, ?) "
                "ON CONFLICT (scope, key) DO NOTHING",
                (scope, key, fingerprint, token, now + lease, expires_at, now, now),
            )
            if inserted == 1:
                return Claim("claimed", scope, key, token, None, expires)
            row = await t.fetchone(_SELECT, (scope, key))
            if row is None:  # deleted between our insert and select: claim again
                return await self.claim(
                    scope, key, fingerprint, lease_s=lease_s, expires_after=expires_after, tx=t
                )
            record = IdempotencyRecord.from_row(row)
            stale = record.expires_at <= now or (
                record.status == "in_progress"
                and record.lease_expires_at is not None
                and record.lease_expires_at <= now
            )
            if stale:
                taken = await t.execute(
                    "UPDATE seawall_idempotency SET status = 'in_progress', fingerprint = ?, "
                    "token = ?, lease_expires_at = ?, expires_at = ?, result = NULL, "
                    "created_at = ?, updated_at = ? WHERE scope = ? AND key = ? AND token = ?",
                    (
                        fingerprint,
                        token,
                        now + lease,
                        expires_at,
                        now,
                        now,
                        scope,
                        key,
                        record.token,
                    ),
                )
                if taken == 1:
                    return Claim("claimed", scope, key, token, None, expires)
                row = await t.fetchone(_SELECT, (scope, key))
                if row is None:
                    raise IdempotencyInProgressError(scope, key, None)
                record = IdempotencyRecord.from_row(row)
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyMismatchError(scope, key)
            if record.status == "completed":
                return Claim("completed", scope, key, record.token, record)
            raise IdempotencyInProgressError(scope, key, record.lease_expires_at)

    async def complete(self, claim: Claim, result_json: str, *, tx: Tx | None = None) -> bool:
        """Store the JSON text of the result and mark the claim completed.

        The completed record expires `expires_after` seconds (given to `claim`) from now.

        Returns False when the claim was lost (its lease ran out and another caller took over).
        """
        now = self.store.clock.time()
        async with self._tx(tx) as t:
            changed = await t.execute(
                "UPDATE seawall_idempotency SET status = 'completed', result = ?, "
                "lease_expires_at = NULL, expires_at = ?, updated_at = ? "
                "WHERE scope = ? AND key = ? AND token = ? AND status = 'in_progress'",
                (result_json, now + claim.expires_after, now, claim.scope, claim.key, claim.token),
            )
        return changed == 1

    async def release(self, claim: Claim, *, tx: Tx | None = None) -> bool:
        """Delete the in-progress record of `claim` so a retry can run; False if already gone."""
        async with self._tx(tx) as t:
            changed = await t.execute(
                "DELETE FROM seawall_idempotency "
                "WHERE scope = ? AND key = ? AND token = ? AND status = 'in_progress'",
                (claim.scope, claim.key, claim.token),
            )
        return changed == 1

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The record for (scope, key), or None (expired records are returned until purged)."""
        async with self.store.read() as t:
            row = await t.fetchone(_SELECT, (scope, key))
        return None if row is None else IdempotencyRecord.from_row(row)

    async def forget(self, scope: str, key: str) -> bool:
        """Delete the record for (scope, key) whatever its state; True when one existed."""
        async with self.store.transaction() as t:
            changed = await t.execute(
                "DELETE FROM seawall_idempotency WHERE scope = ? AND key = ?", (scope, key)
            )
        return changed == 1

    async def purge_expired(self) -> int:
        """Delete every record past its expiry; return how many were deleted."""
        now = self.store.clock.time()
        async with self.store.transaction() as t:
            return await t.execute("DELETE FROM seawall_idempotency WHERE expires_at <= ?", (now,))
