"""The guide's helpers with their names: `with_retry` and `gather_settled` (Promise.allSettled).

This is the HTTP-agnostic core: which errors retry and where a retry-after hint comes from are
injected (`retry_on`, `retry_after`). `seawall.with_retry` (in `seawall.http.twins`) is this
function with the guide's HTTP meaning injected: 4xx permanent except 429, Retry-After honoured.

Deliberate differences from the guide's code:
- Waits use full jitter, uniform in [0, min(max_delay, base * 2**(n-1))], so clients that failed
  together do not retry together; the guide's plain exponential delays herd.
- A retry-after hint is honoured as the minimum wait (a day or more gives up at once).
- Waits never run past an active deadline (see `seawall.resilience.Deadline`).

Speed: the Retry built from one set of options is kept and reused (a small bounded memo), so a
call that succeeds on its first try costs one dictionary lookup and the attempt itself. With a
`seed`, a fresh policy is built on every call, so the same seed gives the same waits each time.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.resilience.backoff import ExponentialJitter
from seawall.resilience.calls import is_coroutine_function
from seawall.resilience.retry import Retry, RetryAfterReader, RetryHook

__all__ = ["Outcome", "Settled", "gather_settled", "with_retry"]

T = TypeVar("T")

_MEMO_LIMIT = 256
"""Distinct option sets whose Retry is kept; past that the memo starts afresh (bounded memory)."""

_policies: dict[tuple[object, ...], Retry] = {}


def with_retry(
    fn: Callable[[], T],
    max_retries: int = 3,
    base_delay_ms: float = 1000,
    max_delay_ms: float = 10000,
    logger: logging.Logger | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    seed: int | None = None,
    retry_on: Callable[[BaseException], bool] | None = None,
    retry_after: RetryAfterReader | None = None,
) -> T:
    """The guide's `withRetry`: call `fn` up to `max_retries` times in total.

    Returns `fn()`'s value, or an awaitable of it for a coroutine function. An error retries when
    `retry_on(exc)` is true (default: every Exception); the wait is at least the error's
    retry-after hint, read by `retry_after` (default: its `retry_after` attribute).

    With a `logger`, each failed attempt that will be retried logs a warning with the guide's
    text, `Attempt {n}/{N} failed, retrying in {X}ms` (then `: ` and the error), and the end of
    the retrying logs an error: `All {N} attempts failed` when the attempts ran out, else
    `Attempt {n}/{N} failed, giving up` (the wait would pass the deadline or the server asked
    for too long). Nothing is logged on success.
    """
    key = (max_retries, base_delay_ms, max_delay_ms, logger, clock, retry_on, retry_after)
    try:
        policy = _policies.get(key) if seed is None else None
    except TypeError:  # an unhashable option: build afresh, never memoise
        seed_or_unhashable = True
        policy = None
    else:
        seed_or_unhashable = seed is not None
    if policy is None:
        policy = _build(
            max_retries, base_delay_ms, max_delay_ms, logger, clock, seed, retry_on, retry_after
        )
        if not seed_or_unhashable:
            if len(_policies) >= _MEMO_LIMIT:
                _policies.clear()
            _policies[key] = policy
    if is_coroutine_function(fn):
        return policy.run_async(None, fn, (), {})  # type: ignore[return-value]
    return cast(T, policy.run_sync(None, fn, (), {}))


def _build(
    max_retries: int,
    base_delay_ms: float,
    max_delay_ms: float,
    logger: logging.Logger | None,
    clock: Clock,
    seed: int | None,
    retry_on: Callable[[BaseException], bool] | None,
    retry_after: RetryAfterReader | None,
) -> Retry:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        raise TypeError(f"max_retries must be an int, not {type(max_retries).__name__}")
    if max_retries < 1:
        raise ValueError(f"max_retries counts total attempts and must be >= 1 (got {max_retries})")
    if not 0 <= base_delay_ms <= max_delay_ms:
        raise ValueError("need 0 <= base_delay_ms <= max_delay_ms")
    on_retry, on_give_up = _log_hooks(logger, max_retries) if logger is not None else (None, None)
    return Retry(
        max_attempts=max_retries,
        backoff=ExponentialJitter(base_delay_ms / 1000, max_delay_ms / 1000, seed=seed),
        retry_on=retry_on if retry_on is not None else (Exception,),
        on_retry=on_retry,
        on_give_up=on_give_up,
        clock=clock,
        retry_after=retry_after,
    )


def _log_hooks(logger: logging.Logger, total: int) -> tuple[RetryHook, RetryHook]:
    """The guide's log lines, as retry hooks (called on failures only)."""

    def on_retry(attempt: int, delay: float, cause: Any) -> None:
        delay_ms = round(delay * 1000)
        logger.warning(
            "Attempt %d/%d failed, retrying in %dms: %s",
            attempt,
            total,
            delay_ms,
            cause,
            extra={"seawall": {"attempt": attempt, "attempts": total, "delay_ms": delay_ms}},
        )

    def on_give_up(attempt: int, delay: float, cause: Any) -> None:
        fields = {"attempt": attempt, "attempts": total, "error_type": type(cause).__name__}
        if attempt >= total:
            logger.error("All %d attempts failed: %s", total, cause, extra={"seawall": fields})
        else:
            logger.error(
                "Attempt %d/%d failed, giving up: a %dms wait is not allowed: %s",
                attempt,
                total,
                round(delay * 1000),
                cause,
                extra={"seawall": fields},
            )

    return on_retry, on_give_up


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
