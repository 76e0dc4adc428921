"""Idempotency: records keyed by (scope, key), `@idempotent`, and an ASGI middleware."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    # Names after `as` are kept importable for the library's own modules, not the surface.
    from seawall.idempotency._bridge import run_sync as run_sync
    from seawall.idempotency.api import IdempotencyPersistence
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
        Claim as Claim,
    )
    from seawall.idempotency.store import (
        IdempotencyRecord,
        IdempotencyStore,
    )
    from seawall.idempotency.store import (
        fingerprint as fingerprint,
    )

__all__ = [
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyError",
    "IdempotencyKeyMismatchError",
    "IdempotencyMiddleware",
    "IdempotencyPayloadError",
    "IdempotencyPersistence",
    "IdempotencyRecord",
    "IdempotencyResultError",
    "IdempotencyStore",
    "idempotent",
]

_HOMES = {
    "IdempotencyPersistence": "seawall.idempotency.api",
    "run_sync": "seawall.idempotency._bridge",
    "idempotent": "seawall.idempotency.decorator",
    "IdempotencyError": "seawall.idempotency.errors",
    "IdempotencyInProgressError": "seawall.idempotency.errors",
    "IdempotencyKeyError": "seawall.idempotency.errors",
    "IdempotencyKeyMismatchError": "seawall.idempotency.errors",
    "IdempotencyPayloadError": "seawall.idempotency.errors",
    "IdempotencyResultError": "seawall.idempotency.errors",
    "IdempotencyMiddleware": "seawall.idempotency.middleware",
    "Claim": "seawall.idempotency.store",
    "IdempotencyRecord": "seawall.idempotency.store",
    "IdempotencyStore": "seawall.idempotency.store",
    "fingerprint": "seawall.idempotency.store",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
