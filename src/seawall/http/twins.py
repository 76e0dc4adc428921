"""The guide's `with_retry` with its HTTP meaning: 4xx is permanent except 429; Retry-After waits.

`seawall.with_retry` is this function. It is `seawall.resilience.with_retry` (the HTTP-agnostic
core) with two rules of `seawall.http.classify` injected: `permanent_client_error` (the guide
treats every 4xx as permanent; 429 Too Many Requests is retried here) and `retry_after_from` (the
server's Retry-After, in seconds or as an HTTP date, from `exc.retry_after` or the response
headers, honoured as the minimum wait).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.http.classify import permanent_client_error, retry_after_from
from seawall.resilience.twins import with_retry as _core_with_retry

__all__ = ["with_retry"]

T = TypeVar("T")


def _retryable(exc: BaseException) -> bool:
    return not permanent_client_error(exc)


@functools.lru_cache(maxsize=64)
def _hint_reader(clock: Clock) -> Callable[[BaseException], float | None]:
    """One Retry-After reader per clock (kept, so the core's memo of policies hits)."""

    def read(exc: BaseException) -> float | None:
        return retry_after_from(exc, clock.time())

    return read


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
    retried after at least its Retry-After. Returns an awaitable for a coroutine function. Waits
    are jittered and never pass an active deadline; with a `logger`, failed attempts log the
    guide's lines (see `seawall.resilience.with_retry`).
    """
    return _core_with_retry(
        fn,
        max_retries,
        base_delay_ms,
        max_delay_ms,
        logger,
        clock=clock,
        seed=seed,
        retry_on=_retryable,
        retry_after=_reader_for(clock),
    )


def _reader_for(clock: Clock) -> Callable[[BaseException], float | None]:
    try:
        return _hint_reader(clock)  # type: ignore[arg-type]
    except TypeError:  # an unhashable clock: a reader of its own (the core then builds afresh)
        return _hint_reader.__wrapped__(clock)
