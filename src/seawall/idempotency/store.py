"""Idempotency records in the shared store: atomic claim, completion with a result, release.

A record is keyed by (scope, key). Its life:

- `claim` inserts an `in_progress` record with `INSERT ... ON CONFLICT DO NOTHING`, so of any
  number of concurrent claimers exactly one wins, on SQLite and PostgreSQL alike. A new key costs
  that one statement and nothing else: there is no read before it. Only when the key is taken is
  the record read, in the same transaction (on PostgreSQL in the same statement), to answer with
  the stored result, a mismatch or "in progress"; a repeat writes and locks nothing. The record
  carries a lease (`lease_expires_at`): a caller that crashes never leaves the key stuck, because
  a later claim takes over an in-progress record whose lease has run out (an UPDATE guarded by
  the record's token and its staleness, so again exactly one taker wins).
- `complete` stores the JSON result and marks the record `completed` until `expires_at`
  (default one hour), in one UPDATE. It may run in the caller's own transaction, so effects and
  the record commit together.
- `release` deletes an in-progress record after a failure, so a retry can run.

Without `tx=`, claim and complete each commit once: a new key costs two commits, which is the
floor, since the claim must be visible to other callers before the work starts. On SQLite,
concurrent callers share those commits (group commit). With `tx=` everything joins the caller's
transaction and its single commit; concurrent repeats of that key then wait for that commit
(PostgreSQL holds them on the uncommitted row; SQLite has one writer anyway).

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
    "existing_claim",
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


_COLUMNS = (
    "scope, key, status, fingerprint, token, lease_expires_at, expires_at, result, "
    "created_at, updated_at"
)
_SELECT = f"SELECT {_COLUMNS} FROM seawall_idempotency WHERE scope = ? AND key = ?"

# A claim is one INSERT that does nothing when the key is taken, so a new key costs a single
# statement and no read. It takes no row lock on conflict, so a repeat writes nothing (on
# PostgreSQL a repeat's commit needs no WAL flush). Parameters: scope, key, fingerprint, token,
# lease_expires_at, expires_at, now (created_at), now (updated_at).
_INSERT = (
    f"INSERT INTO seawall_idempotency ({_COLUMNS}) "
    "VALUES (?, ?, 'in_progress', ?, ?, ?, ?, NULL, ?, ?) "
    "ON CONFLICT (scope, key) DO NOTHING"
)
_CLAIM_SQLITE = f"{_INSERT} RETURNING token"
# PostgreSQL: the insert and, when the key is taken, the record in the way, in one round trip.
# The second branch reads the statement's snapshot, which misses a record committed by a
# concurrent claimer while this statement waited for it; the caller then reads again.
_CLAIM_POSTGRES = (
    f"WITH won AS ({_INSERT} RETURNING token) "
    f"SELECT TRUE AS won, NULL AS {_COLUMNS.replace(', ', ', NULL AS ')} FROM won "
    f"UNION ALL SELECT FALSE AS won, {_COLUMNS} FROM seawall_idempotency "
    "WHERE scope = ? AND key = ?"
)
# Taking over a stale record: guarded by its token and by staleness (re-checked on the latest
# row version), so of concurrent takers exactly one wins and a record completed meanwhile stays.
_TAKEOVER = (
    "UPDATE seawall_idempotency SET status = 'in_progress', fingerprint = ?, token = ?, "
    "lease_expires_at = ?, expires_at = ?, result = NULL, created_at = ?, updated_at = ? "
    "WHERE scope = ? AND key = ? AND token = ? AND (expires_at <= ? "
    "OR (status = 'in_progress' AND lease_expires_at <= ?))"
)
_MAX_CLAIM_ATTEMPTS = 5


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

        One statement claims a new key (no read first); only when the key is taken is the
        existing record read, in the same transaction. Raises IdempotencyKeyMismatchError when
        the key was used with another fingerprint, and IdempotencyInProgressError while another
        holder's lease is still running.
        """
        check_key(scope, key)
        now = self.store.clock.time()
        lease = self.lease_s if lease_s is None else lease_s
        expires = self.expires_after if expires_after is None else expires_after
        # The record must outlive its lease, or an expired record would be taken over mid-run.
        expires_at = now + max(expires, lease)
        token = uuid.uuid4().hex
        params = (scope, key, fingerprint, token, now + lease, expires_at, now, now)
        async with self._tx(tx) as t:
            for _ in range(_MAX_CLAIM_ATTEMPTS):
                won, row = await _insert(t, params)
                if won:
                    return Claim("claimed", scope, key, token, None, expires)
                if row is None:  # committed after the insert's snapshot, or released: look again
                    row = await t.fetchone(_SELECT, (scope, key))
                    if row is None:
                        continue
                if not _stale(row, now):
                    return existing_claim(IdempotencyRecord.from_row(row), fingerprint, expires)
                taken = await t.execute(
                    _TAKEOVER,
                    (*params[2:], scope, key, row["token"], now, now),
                )
                if taken == 1:
                    return Claim("claimed", scope, key, token, None, expires)
                # Another claimer took it over first: the next round sees its record.
            raise IdempotencyInProgressError(scope, key, None)

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

    async def renew(self, claim: Claim, lease_s: float) -> bool:
        """Extend the lease of a running claim to `lease_s` from now; False if it was lost."""
        now = self.store.clock.time()
        lease_end = now + lease_s
        async with self.store.transaction() as t:
            changed = await t.execute(
                "UPDATE seawall_idempotency SET lease_expires_at = ?, updated_at = ?, "
                "expires_at = CASE WHEN expires_at < ? THEN ? ELSE expires_at END "
                "WHERE scope = ? AND key = ? AND token = ? AND status = 'in_progress'",
                (lease_end, now, lease_end, lease_end, claim.scope, claim.key, claim.token),
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


async def _insert(t: Tx, params: tuple[Any, ...]) -> tuple[bool, Row | None]:
    """Try to insert a new record: (True, None) when inserted, else (False, the record in the
    way, or None when this statement could not see it)."""
    if t.engine == "postgresql":
        rows = await t.fetchall(_CLAIM_POSTGRES, (*params, params[0], params[1]))
        if any(r["won"] for r in rows):
            return True, None
        return False, rows[0] if rows else None
    if await t.fetchone(_CLAIM_SQLITE, params) is not None:
        return True, None
    return False, await t.fetchone(_SELECT, (params[0], params[1]))


def _stale(row: Row, now: float) -> bool:
    """True for a record a claim may take over: expired, or in progress past its lease."""
    lease_end = row["lease_expires_at"]
    return bool(
        row["expires_at"] <= now
        or (row["status"] == "in_progress" and lease_end is not None and lease_end <= now)
    )


def existing_claim(record: IdempotencyRecord, fingerprint: str, expires_after: float) -> Claim:
    """The answer to a claim that found a live record, on every engine: a mismatch first, then
    the completed record's stored result, else "in progress"."""
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyMismatchError(record.scope, record.key)
    if record.status == "completed":
        return Claim("completed", record.scope, record.key, record.token, record, expires_after)
    raise IdempotencyInProgressError(record.scope, record.key, record.lease_expires_at)
