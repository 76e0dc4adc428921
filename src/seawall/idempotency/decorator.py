"""`@idempotent`: run a function once per key; repeats get the stored result.

```python
@idempotent(store, key="order_id", scope="charge")
async def charge(order_id: str, amount: int) -> dict[str, object]: ...
```

- A repeat with the same key and the same arguments returns the stored result without running.
- A repeat while the first call runs raises IdempotencyInProgressError, or waits for the first
  call's result when `wait=True` (or `wait=<seconds>`).
- The same key with different arguments raises IdempotencyKeyMismatchError.
- An exception releases the key, so a retry runs the function again.
- The in-progress record carries a lease: the time left in the active `seawall` deadline when one
  is active, else `lease_s` (default 60 s; for a job handler pass the queue's visibility timeout).
  A caller that dies mid-call frees the key when its lease runs out.

Results are stored as JSON. Return JSON-able data, or pass `serializer=` (result to a JSON-able
value, e.g. `Model.model_dump`) and `deserializer=` (back again, e.g. `Model.model_validate`).
The first call returns the function's own object; repeats return the JSON round trip (tuples
come back as lists), unless a deserializer restores the type.

Synchronous functions are supported: their store calls run on one background event-loop
thread, so give them a Store object of their own (not one used by async code on another loop),
and migrate or close that store through the same loop: `run_sync(store.migrate())`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

from seawall.idempotency._bridge import run_sync
from seawall.idempotency.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyResultError,
)
from seawall.idempotency.store import (
    DEFAULT_EXPIRES_AFTER_S,
    DEFAULT_LEASE_S,
    Claim,
    IdempotencyStore,
    fingerprint,
)
from seawall.resilience import time_left
from seawall.store import Store, Tx

__all__ = ["idempotent"]

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("seawall.idempotency")

_MIN_LEASE_S = 1.0
_POLL_START_S = 0.02
_POLL_MAX_S = 0.5


def _identity(value: Any) -> Any:
    return value


class _Plan:
    """Everything the wrapper needs, resolved once at decoration time."""

    def __init__(
        self,
        fn: Callable[..., Any],
        records: IdempotencyStore,
        key: str | Callable[..., Any],
        scope: str,
        expires_after: float,
        lease_s: float | None,
        wait: bool | float,
        payload: Callable[..., Any] | None,
        serializer: Callable[[Any], Any],
        deserializer: Callable[[Any], Any],
        tx_arg: str | None,
    ) -> None:
        self.signature = inspect.signature(fn)
        params = self.signature.parameters
        if isinstance(key, str) and key not in params:
            raise IdempotencyKeyError(
                f"@idempotent key={key!r} names no parameter of {fn.__qualname__}; "
                f"choose one of {list(params)} or pass a callable",
                scope=scope,
            )
        if tx_arg is not None and tx_arg not in params:
            raise ValueError(
                f"@idempotent tx_arg={tx_arg!r} names no parameter of {fn.__qualname__}"
            )
        if isinstance(wait, bool):
            self.wait_s = (lease_s or DEFAULT_LEASE_S) if wait else 0.0
        else:
            if wait < 0:
                raise ValueError("wait must be True/False or a non-negative number of seconds")
            self.wait_s = float(wait)
        self.records = records
        self.key = key
        self.scope = scope
        self.expires_after = expires_after
        self.lease_s = lease_s
        self.payload = payload
        self.serializer = serializer
        self.deserializer = deserializer
        self.tx_arg = tx_arg

    def inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str, Tx | None]:
        """The key, the payload fingerprint and the caller's transaction for one call."""
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        raw = bound.arguments[self.key] if isinstance(self.key, str) else self.key(*args, **kwargs)
        if raw is None or raw == "":
            raise IdempotencyKeyError("the idempotency key of this call is empty", scope=self.scope)
        key = raw if isinstance(raw, str) else str(raw)
        tx = cast("Tx | None", bound.arguments.get(self.tx_arg)) if self.tx_arg else None
        if self.payload is not None:
            data = self.payload(*args, **kwargs)
        else:
            data = {
                name: value
                for name, value in bound.arguments.items()
                if name not in ("self", "cls") and name != self.tx_arg
            }
        return key, fingerprint(data), tx

    def lease(self) -> float:
        """The lease for a new claim: the active deadline's time left and/or `lease_s`."""
        candidates = [s for s in (self.lease_s, time_left()) if s is not None]
        lease = min(candidates) if candidates else self.records.lease_s
        return max(lease, _MIN_LEASE_S)

    async def claim(self, key: str, fp: str, tx: Tx | None) -> Claim:
        """Claim the key, waiting for a running holder when asked to."""
        clock = self.records.store.clock
        give_up = clock.monotonic() + self.wait_s
        poll = _POLL_START_S
        while True:
            try:
                return await self.records.claim(
                    self.scope,
                    key,
                    fp,
                    lease_s=self.lease(),
                    expires_after=self.expires_after,
                    tx=tx,
                )
            except IdempotencyInProgressError:
                left = give_up - clock.monotonic()
                if left <= 0:
                    raise
                await clock.sleep(min(poll, left))
                poll = min(poll * 2, _POLL_MAX_S)

    def encode(self, claim: Claim, result: Any) -> str:
        """The JSON text stored for `result`."""
        try:
            return json.dumps(self.serializer(result), separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise IdempotencyResultError(
                f"the result of this call cannot be stored as JSON ({exc}); return JSON-able "
                "data or pass serializer=/deserializer= to @idempotent",
                scope=claim.scope,
                key=claim.key,
            ) from exc

    def replay(self, claim: Claim) -> Any:
        """The stored result of a completed claim, through the deserializer."""
        assert claim.record is not None
        return self.deserializer(claim.record.result)

    async def finish(self, claim: Claim, result: Any, tx: Tx | None) -> None:
        """Store the result; release the claim if it cannot be stored."""
        try:
            text = self.encode(claim, result)
        except IdempotencyResultError:
            await self.release(claim, tx)
            raise
        if not await self.records.complete(claim, text, tx=tx):
            log.warning(
                "idempotency lease lost before completion",
                extra={"scope": claim.scope, "key": claim.key},
            )

    async def release(self, claim: Claim, tx: Tx | None) -> None:
        """Free the key after a failure (never masks the original error)."""
        try:
            await asyncio.shield(self.records.release(claim, tx=tx))
        except Exception:  # the caller's transaction may be aborted; its rollback frees the key
            log.warning(
                "could not release idempotency key", extra={"scope": claim.scope, "key": claim.key}
            )


def idempotent(
    store: Store | IdempotencyStore,
    *,
    key: str | Callable[..., Any],
    scope: str | None = None,
    expires_after: float = DEFAULT_EXPIRES_AFTER_S,
    lease_s: float | None = None,
    wait: bool | float = False,
    payload: Callable[..., Any] | None = None,
    serializer: Callable[[Any], Any] | None = None,
    deserializer: Callable[[Any], Any] | None = None,
    tx_arg: str | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a sync or async function run once per idempotency key (see the module docstring).

    `key` is a parameter name or a callable taking the call's arguments; `scope` defaults to the
    function's qualified name; `payload` picks the JSON-able data to fingerprint (default: every
    argument); `tx_arg` names a parameter holding an open `Tx`, so the claim and the stored
    result commit with the caller's own effects in one commit (the cheapest way to use this
    decorator); a concurrent repeat of the key then waits for that commit and replays.
    """
    if expires_after <= 0:
        raise ValueError("expires_after must be positive seconds")
    if lease_s is not None and lease_s <= 0:
        raise ValueError("lease_s must be positive seconds")
    records = store if isinstance(store, IdempotencyStore) else IdempotencyStore(store)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        plan = _Plan(
            fn,
            records,
            key,
            scope or f"{fn.__module__}.{fn.__qualname__}",
            expires_after,
            lease_s,
            wait,
            payload,
            serializer or _identity,
            deserializer or _identity,
            tx_arg,
        )
        if inspect.iscoroutinefunction(fn):
            afn = cast("Callable[P, Awaitable[Any]]", fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                k, fp, tx = plan.inputs(args, kwargs)
                claim = await plan.claim(k, fp, tx)
                if claim.outcome == "completed":
                    return plan.replay(claim)
                try:
                    result = await afn(*args, **kwargs)
                except BaseException:
                    await plan.release(claim, tx)
                    raise
                await plan.finish(claim, result, tx)
                return result

            return cast("Callable[P, R]", async_wrapper)
        if plan.tx_arg is not None:
            raise ValueError("tx_arg is only supported on async functions")

        @functools.wraps(fn)
        def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            k, fp, _ = plan.inputs(args, kwargs)
            claim = run_sync(plan.claim(k, fp, None))
            if claim.outcome == "completed":
                return cast(R, plan.replay(claim))
            try:
                result = fn(*args, **kwargs)
            except BaseException:
                with contextlib.suppress(Exception):
                    run_sync(plan.release(claim, None))
                raise
            run_sync(plan.finish(claim, result, None))
            return result

        return sync_wrapper

    return decorate
