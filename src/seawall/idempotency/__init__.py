"""Idempotency: records keyed by (scope, key), `@idempotent`, and an ASGI middleware."""

from __future__ import annotations

from seawall.idempotency._bridge import run_sync
from seawall.idempotency.decorator import idempotent
from seawall.idempotency.errors import (
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
    IdempotencyPayloadError,
    IdempotencyResultError,
)
from seawall.idempotency.middleware import IdempotencyMiddleware
from seawall.idempotency.store import (
    Claim,
    IdempotencyRecord,
    IdempotencyStore,
    fingerprint,
)

__all__ = [
    "Claim",
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyError",
    "IdempotencyKeyMismatchError",
    "IdempotencyMiddleware",
    "IdempotencyPayloadError",
    "IdempotencyRecord",
    "IdempotencyResultError",
    "IdempotencyStore",
    "fingerprint",
    "idempotent",
    "run_sync",
]
