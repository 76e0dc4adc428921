"""`idempotent_lambda`: run a Lambda handler once per idempotency key, on DynamoDB records.

A new key costs two API calls (PutItem, UpdateItem); a repeat costs one (PutItem).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from seawall.aws.idempotency.store import DynamoIdempotencyStore
from seawall.idempotency.errors import IdempotencyKeyError, IdempotencyResultError
from seawall.idempotency.store import fingerprint

__all__ = ["idempotent_lambda"]

log = logging.getLogger("seawall.idempotency")

H = TypeVar("H", bound=Callable[[Any, Any], Any])


def _identity(value: Any) -> Any:
    return value


def idempotent_lambda(
    store: DynamoIdempotencyStore,
    *,
    key_of: str | Callable[[Any], Any],
    scope: str | None = None,
    payload: Callable[[Any], Any] | None = None,
    expires_after_s: float | None = None,
    serializer: Callable[[Any], Any] | None = None,
    deserializer: Callable[[Any], Any] | None = None,
) -> Callable[[H], H]:
    """Make a Lambda handler `handler(event, context)` run once per idempotency key.

    ```python
    store = DynamoIdempotencyStore(AwsClients(), "prod-myapp-idempotency")

    @idempotent_lambda(store, key_of="order_id", payload=lambda event: event["body"])
    def handler(event, context): ...
    ```

    - `key_of`: a top-level field of the event, or a callable taking the event. A string (or an
      int) is the key itself; any other value is replaced by its fingerprint (sha256 hex).
    - `payload`: the part of the event that must be the same on a repeat (default: the whole
      event). For API Gateway events pick the body: the request context changes on every retry
      and would make every retry a mismatch.
    - `scope`: defaults to the handler's module and qualified name.

    A repeat returns the stored result without running (one PutItem); a repeat while the first
    call runs raises IdempotencyInProgressError; the same key with another payload raises
    IdempotencyKeyMismatchError. An exception releases the key, so Lambda's retry runs again.
    The in-progress lease ends with the invocation's remaining time (from `context`) or the
    store's `lease_s`, whichever comes first. Results are stored as JSON (`serializer` and
    `deserializer` convert other types).
    """
    encode = serializer or _identity
    decode = deserializer or _identity
    pick = payload or _identity

    def key_for(event: Any, scope_name: str) -> str:
        if isinstance(key_of, str):
            try:
                raw = event[key_of]
            except (KeyError, IndexError, TypeError):
                raise IdempotencyKeyError(
                    f"the event has no field {key_of!r} to take the idempotency key from",
                    scope=scope_name,
                ) from None
        else:
            raw = key_of(event)
        if raw is None or raw == "":
            raise IdempotencyKeyError(
                "the idempotency key of this event is empty", scope=scope_name
            )
        if isinstance(raw, str):
            return raw
        if isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)
        return fingerprint(raw)

    def decorate(handler: H) -> H:
        scope_name = scope or f"{handler.__module__}.{handler.__qualname__}"
        store.record_id(scope_name, "k")  # refuse a bad scope at decoration time

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            key = key_for(event, scope_name)
            claim = store.claim(
                scope_name,
                key,
                fingerprint(pick(event)),
                lambda_context=context
                if hasattr(context, "get_remaining_time_in_millis")
                else None,
                expires_after_s=expires_after_s,
            )
            if claim.outcome == "completed":
                assert claim.record is not None
                return decode(claim.record.result)
            try:
                result = handler(event, context)
            except BaseException:
                try:
                    store.release(claim)
                except Exception:  # never mask the handler's error; the lease frees the key
                    log.warning(
                        "could not release idempotency key",
                        extra={"scope": claim.scope, "key": claim.key},
                    )
                raise
            try:
                text = json.dumps(encode(result), separators=(",", ":"), ensure_ascii=False)
                stored = store.complete(claim, text)
            except (TypeError, ValueError, IdempotencyResultError) as exc:
                store.release(claim)
                if isinstance(exc, IdempotencyResultError):
                    raise
                raise IdempotencyResultError(
                    f"the handler's result cannot be stored as JSON ({exc}); return JSON-able "
                    "data or pass serializer=/deserializer= to idempotent_lambda",
                    scope=claim.scope,
                    key=claim.key,
                ) from exc
            if not stored:
                log.warning(
                    "idempotency lease lost before completion",
                    extra={"scope": claim.scope, "key": claim.key},
                )
            return result

        return cast(H, wrapper)

    return decorate
