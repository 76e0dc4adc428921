"""Named errors of the idempotency layer, each carrying the scope and key it is about."""

from __future__ import annotations

__all__ = [
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyError",
    "IdempotencyKeyMismatchError",
    "IdempotencyPayloadError",
    "IdempotencyResultError",
]


class IdempotencyError(Exception):
    """Base class of idempotency errors."""

    def __init__(self, message: str, *, scope: str = "", key: str = "") -> None:
        super().__init__(message)
        self.scope = scope
        self.key = key


class IdempotencyInProgressError(IdempotencyError):
    """Another call holding the same key is still running (HTTP 409); retry later."""

    def __init__(self, scope: str, key: str, lease_expires_at: float | None) -> None:
        super().__init__(
            f"a call with idempotency key {key!r} in scope {scope!r} is still in progress; "
            "retry after it finishes",
            scope=scope,
            key=key,
        )
        self.lease_expires_at = lease_expires_at


class IdempotencyKeyMismatchError(IdempotencyError):
    """The key was used before with a different payload (HTTP 422); use a new key."""

    def __init__(self, scope: str, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} in scope {scope!r} was already used with a different "
            "payload; use a new key for a different request",
            scope=scope,
            key=key,
        )


class IdempotencyKeyError(IdempotencyError, ValueError):
    """The idempotency key is missing, empty or too long."""


class IdempotencyPayloadError(IdempotencyError, TypeError):
    """The arguments cannot be fingerprinted; pass `payload=` to choose JSON-able parts."""


class IdempotencyResultError(IdempotencyError, TypeError):
    """The result cannot be stored as JSON; return JSON-able data or give a serializer."""
