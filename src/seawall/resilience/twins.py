"""The guide's helpers with their names: `with_retry` and `gather_settled` (Promise.allSettled).

Deliberate differences from the guide's code:
- 429 Too Many Requests is retried (the guide treats every 4xx as permanent) and the server's
  Retry-After (seconds or an HTTP date, from `exc.retry_after` or the response headers) is
  honoured as the minimum wait.
- Waits use full jitter, uniform in [0, min(max_delay, base * 2**(n-1))], so clients that failed
  together do not retry together; the guide's plain exponential delays herd.
- Waits never run past an active deadline (see `seawall.resilience.Deadline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar, cast

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.resilience.backoff import ExponentialJitter
from seawall.resilience.retry import Retry

__all__ = ["Outcome", "Settled", "gather_settled", "status_of", "with_retry"]

T = TypeVar("T")


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an error carries in `.status` or `.response.status_code`, if any."""
    for holder, attr in ((exc, "status"), (getattr(exc, "response", None), "status_code")):
        value = getattr(holder, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _sane(seconds: float) -> float | None:
    """A numeric hint as the retry policy reads it: NaN and negative values are no hint."""
    return None if seconds != seconds or seconds < 0.0 else seconds


def _parse_retry_after(raw: object, clock: Clock) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _sane(float(raw))
    text = str(raw).strip()
    try:
        return _sane(float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - clock.time())


def _hint(exc: BaseException, clock: Clock) -> float | None:
    """Retry-After from `exc.retry_after` or from `exc.response.headers` / `exc.headers`."""
    direct = getattr(exc, "retry_after", None)
    if direct is not None:
        return _parse_retry_after(direct, clock)
    for holder in (getattr(exc, "response", None), exc):
        headers = getattr(holder, "headers", None)
        getter = getattr(headers, "get", None)
        if callable(getter):
            value = getter("Retry-After") or getter("retry-after")
            if value is not None:
                return _parse_retry_after(value, clock)
    return None


class _HintedError(Exception):
    """Never raised: a stand-in the retry policy reads `retry_after` from."""


def with_retry(
    fn: Callable[[], T],
    max_retries: int = 3,
    base_delay_ms: float = 1000,
    max_delay_ms: float = 10000,
    logger: logging.Logger | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    seed: int | None = None,
) -> T:
    """The guide's `withRetry`: call `fn` up to `max_retries` times in total.

    A 4xx error (by `.status` or `.response.status_code`) is not retried, except 429, which is
    retried after at least its Retry-After. Returns an awaitable for a coroutine function.
    """
    if max_retries < 1:
        raise ValueError(f"max_retries counts total attempts and must be >= 1 (got {max_retries})")
    if base_delay_ms < 0 or max_delay_ms < base_delay_ms:
        raise ValueError("need 0 <= base_delay_ms <= max_delay_ms")

    def retryable(exc: BaseException) -> bool:
        status = status_of(exc)
        return not (status is not None and 400 <= status < 500 and status != 429)

    def on_retry(attempt: int, delay: float, cause: Any) -> None:
        if logger is not None:
            logger.warning(
                "Attempt %d failed, retrying in %.0fms: %s",
                attempt,
                delay * 1000,
                cause,
                extra={"seawall": {"attempt": attempt, "delay_ms": round(delay * 1000)}},
            )

    policy = Retry(
        max_attempts=max_retries,
        backoff=ExponentialJitter(base_delay_ms / 1000, max_delay_ms / 1000, seed=seed),
        retry_on=retryable,
        on_retry=on_retry,
        clock=clock,
    )
    policy_with_hints = _HintingRetry(policy, clock)
    if inspect.iscoroutinefunction(fn):
        return policy_with_hints.run_async(fn)  # type: ignore[return-value]
    return cast(T, policy_with_hints.run_sync(fn))


class _HintingRetry:
    """Runs a Retry while exposing Retry-After headers as the `retry_after` the policy reads."""

    def __init__(self, policy: Retry, clock: Clock) -> None:
        self.policy = policy
        self.clock = clock

    def _lift(self, exc: Exception) -> None:
        if getattr(exc, "retry_after", None) is None:
            hint = _hint(exc, self.clock)
            if hint is not None:
                with contextlib.suppress(AttributeError):
                    exc.retry_after = hint  # type: ignore[attr-defined]

    def _call_sync(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self._lift(exc)
            raise

    async def _call_async(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            self._lift(exc)
            raise

    def run_sync(self, fn: Callable[[], Any]) -> Any:
        return self.policy.run_sync(self._call_sync, fn, (), {})

    async def run_async(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        return await self.policy.run_async(self._call_async, fn, (), {})


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """One settled input: its position, and either its value or its error."""

    index: int
    value: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the input succeeded."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class Settled(Generic[T]):
    """What `gather_settled` returns: successful values and errors, each in input order."""

    values: list[T]
    errors: list[BaseException]
    outcomes: list[Outcome[T]] = field(default_factory=list)

    @property
    def all_ok(self) -> bool:
        """True when nothing failed."""
        return not self.errors


async def gather_settled(
    *aws_or_callables: Awaitable[T] | Callable[[], Awaitable[T] | T],
    limit: int | None = None,
    logger: logging.Logger | None = None,
) -> Settled[T]:
    """Run every input, at most `limit` at a time; collect successes and failures, log failures.

    Inputs are awaitables, or zero-argument callables (started only when a slot is free, which
    is what makes `limit` effective). Cancellation of the caller cancels what is still running.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None (got {limit})")
    gate = asyncio.Semaphore(limit) if limit is not None else None

    async def one(item: Awaitable[T] | Callable[[], Awaitable[T] | T]) -> T:
        if gate is None:
            return await _resolve(item)
        async with gate:
            return await _resolve(item)

    results = await asyncio.gather(
        *(one(item) for item in aws_or_callables), return_exceptions=True
    )
    values: list[T] = []
    errors: list[BaseException] = []
    outcomes: list[Outcome[T]] = []
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError):
                raise result
            errors.append(result)
            outcomes.append(Outcome(index, error=result))
            if logger is not None:
                logger.error(
                    "Operation %d failed: %s",
                    index,
                    result,
                    exc_info=result,
                    extra={"seawall": {"index": index, "error_type": type(result).__name__}},
                )
        else:
            values.append(result)
            outcomes.append(Outcome(index, value=result))
    return Settled(values, errors, outcomes)


async def _resolve(item: Awaitable[T] | Callable[[], Awaitable[T] | T]) -> T:
    if inspect.isawaitable(item):
        return await item
    if callable(item):
        out = item()
        if inspect.isawaitable(out):
            return await out
        return out
    raise TypeError(f"gather_settled takes awaitables or callables, not {type(item).__name__}")
