"""`AsyncDynamoIdempotencyStore`: the DynamoDB records behind the async `IdempotencyPersistence`.

Each call runs the blocking store's call in a worker thread, so async code (the contract suite,
an async handler) uses DynamoDB records through the protocol every engine implements.
"""

from __future__ import annotations

import asyncio

from seawall.aws.idempotency.store import DynamoIdempotencyStore
from seawall.idempotency.api import IdempotencyPersistence
from seawall.idempotency.store import Claim, IdempotencyRecord

__all__ = ["AsyncDynamoIdempotencyStore"]


class AsyncDynamoIdempotencyStore:
    """A `DynamoIdempotencyStore` awaited from async code (one thread hop per call)."""

    def __init__(self, store: DynamoIdempotencyStore) -> None:
        self.store = store

    async def claim(
        self, scope: str, key: str, fingerprint: str, *, lease_s: float | None = None
    ) -> Claim:
        """Claim (scope, key) with one conditional PutItem, or return the completed record."""
        return await asyncio.to_thread(self.store.claim, scope, key, fingerprint, lease_s=lease_s)

    async def complete(self, claim: Claim, result_json: str) -> bool:
        """Store the result and mark the claim completed; False when the claim was lost."""
        return await asyncio.to_thread(self.store.complete, claim, result_json)

    async def renew(self, claim: Claim, lease_s: float) -> bool:
        """Extend the lease of a running claim to `lease_s` from now; False if it was lost."""
        return await asyncio.to_thread(self.store.renew, claim, lease_s)

    async def release(self, claim: Claim) -> bool:
        """Delete the in-progress record of `claim`; False if already gone."""
        return await asyncio.to_thread(self.store.release, claim)

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The record for (scope, key), or None (a strongly consistent read)."""
        return await asyncio.to_thread(self.store.get, scope, key)

    async def forget(self, scope: str, key: str) -> bool:
        """Delete the record for (scope, key) whatever its state; True when one existed."""
        return await asyncio.to_thread(self.store.forget, scope, key)


def _conforms(store: AsyncDynamoIdempotencyStore) -> IdempotencyPersistence:
    """A static check (mypy) that the async view implements the protocol."""
    return store
