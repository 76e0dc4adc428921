"""Idempotency records as every engine offers them: the `IdempotencyPersistence` protocol.

As AWS Lambda Powertools' `BasePersistenceLayer` separates the idempotency logic from the
engine that keeps the records, this protocol is what the logic needs of an engine: claim a key
(or get its stored result), complete or release the claim, renew its lease, read and forget a
record. `IdempotencyStore` (SQLite, PostgreSQL) implements it; on DynamoDB,
`seawall.aws.idempotency.DynamoIdempotencyStore` is blocking (it serves Lambda handlers) and its
`AsyncDynamoIdempotencyStore` view implements it. `tests/contracts/test_idempotency_contract.py`
runs one suite, typed against this protocol, on all three engines.

Each engine keeps its own extras beyond the protocol: the SQL store joins a caller's
transaction (`tx=`), the DynamoDB store adds its writes to a `DynamoTx` and bounds the lease by
the Lambda context's remaining time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from seawall.idempotency.store import Claim, IdempotencyRecord

if TYPE_CHECKING:
    from seawall.idempotency.store import IdempotencyStore

__all__ = ["IdempotencyPersistence"]


class IdempotencyPersistence(Protocol):
    """Idempotency records keyed by (scope, key), each with a lease while in progress."""

    async def claim(
        self, scope: str, key: str, fingerprint: str, *, lease_s: float | None = None
    ) -> Claim:
        """Claim (scope, key) atomically, or return the completed record's stored result.

        Raises IdempotencyKeyMismatchError when the key was used with another fingerprint, and
        IdempotencyInProgressError while another holder's lease is still running.
        """
        ...

    async def complete(self, claim: Claim, result_json: str) -> bool:
        """Store the JSON text of the result and mark the claim completed; False when the
        claim was lost (its lease ran out and another caller took over)."""
        ...

    async def renew(self, claim: Claim, lease_s: float) -> bool:
        """Extend the lease of a running claim to `lease_s` from now; False if it was lost."""
        ...

    async def release(self, claim: Claim) -> bool:
        """Delete the in-progress record of `claim` so a retry can run; False if already gone."""
        ...

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The record for (scope, key), or None."""
        ...

    async def forget(self, scope: str, key: str) -> bool:
        """Delete the record for (scope, key) whatever its state; True when one existed."""
        ...


def _sql_store_conforms(store: IdempotencyStore) -> IdempotencyPersistence:
    """A static check (mypy) that the SQL store implements the protocol."""
    return store
