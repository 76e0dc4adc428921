"""Retry: bounded attempts with a backoff schedule, retry-after hints, a deadline and a budget."""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ParamSpec, TypeVar, cast

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.resilience import events as ev
from seawall.resilience.backoff import Backoff, ExponentialJitter
from seawall.resilience.budget import RetryBudget
from seawall.resilience.deadline import ACTIVE_DEADLINE, left_in
from seawall.resilience.errors import DeadlineExceeded, RetryAfterTooLong, RetryBudgetExhausted
from seawall.resilience.events import ResilienceEvent, ResilienceListener, emit

__all__ = [
    "MAX_RETRY_AFTER",
    "Retry",
    "RetryAfterReader",
    "RetryHook",
    "retry_after_of",
    "retry_after_seconds",
]

P = ParamSpec("P")
T = TypeVar("T")

RetryHook = Callable[[int, float, Any], None]
"""Called with (attempt number that failed, delay before the next one, cause: error or result)."""

RetryAfterReader = Callable[[BaseException], object]
"""Reads the server's retry-after hint from an error (seconds, or None); `retry_after_seconds`
then applies the one numeric rule to what it returns."""

SyncAttempt = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any]
AsyncAttempt = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Awaitable[Any]]


MAX_RETRY_AFTER = 86_400.0
"""The longest retry-after hint a retry waits for (a day); a longer or infinite one gives up."""


def retry_after_of(exc: BaseException) -> float | None:
    """The server's retry-after hint carried by `exc` (attribute `retry_after`), in seconds.

    The hint is read by `retry_after_seconds`, the one numeric rule for hints.
    """
    return retry_after_seconds(getattr(exc, "retry_after", None))


def retry_after_seconds(hint: object) -> float | None:
    """A retry-after hint in seconds as every retry reads it, whatever parsed it, or None.

    The one rule for hints: None, a bool, a number that is not a number (NaN), a negative one,
    or anything not convertible to a float means no hint (the backoff decides). A hint may be
    +inf or huge: `Retry` never sleeps on it but gives up with RetryAfterTooLong (see
    MAX_RETRY_AFTER).
    """
    if hint is None or isinstance(hint, bool):
        return None
    try:
        value = float(hint)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    if value != value or value < 0.0:  # NaN or negative
        return None
    return value


class Retry:
    """Bounded retries (never infinite): which errors or results retry, and how long to wait.

    The wait before the next attempt is the backoff delay, raised to the error's retry-after hint
    when it has one (read by `retry_after`, by default the error's `retry_after` attribute, and
    always judged by `retry_after_seconds`). A wait that would pass the active deadline gives up
    at once with DeadlineExceeded (RetryAfterTooLong when the server's hint was the reason),
    `__cause__` being the last error. With a budget, an empty bucket gives up with
    RetryBudgetExhausted. When the attempts run out on an error, that error is re-raised; on a
    result, that result is returned.
    """

    __slots__ = (
        "_retry_pred",
        "_retry_types",
        "backoff",
        "budget",
        "clock",
        "listeners",
        "max_attempts",
        "name",
        "on_give_up",
        "on_retry",
        "retry_after",
        "retry_on",
        "retry_on_result",
    )

    def __init__(
        self,
        max_attempts: int = 3,
        backoff: Backoff | None = None,
        retry_on: Callable[[BaseException], bool]
        | tuple[type[BaseException], ...]
        | type[BaseException] = (Exception,),
        retry_on_result: Callable[[Any], bool] | None = None,
        budget: RetryBudget | None = None,
        on_retry: RetryHook | None = None,
        on_give_up: RetryHook | None = None,
        *,
        name: str = "retry",
        clock: Clock = SYSTEM_CLOCK,
        listeners: Sequence[ResilienceListener] = (),
        retry_after: RetryAfterReader | None = None,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise TypeError(f"max_attempts must be an int, not {type(max_attempts).__name__}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1 (got {max_attempts})")
        self.max_attempts = max_attempts
        self.backoff: Backoff = backoff if backoff is not None else ExponentialJitter(0.1, 10.0)
        self.retry_on = retry_on
        if isinstance(retry_on, type):
            retry_on = (retry_on,)
        if isinstance(retry_on, tuple):
            for kind in retry_on:
                if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                    raise TypeError(f"retry_on must hold exception types, got {kind!r}")
            self._retry_types: tuple[type[BaseException], ...] | None = retry_on
            self._retry_pred: Callable[[BaseException], bool] | None = None
        elif callable(retry_on):
            self._retry_types = None
            self._retry_pred = retry_on
        else:
            raise TypeError("retry_on must be a predicate or a tuple of exception types")
        self.retry_on_result = retry_on_result
        self.budget = budget
        self.on_retry = on_retry
        self.on_give_up = on_give_up
        self.name = name
        self.clock = clock
        self.listeners: tuple[ResilienceListener, ...] = tuple(listeners)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"Retry(max_attempts={self.max_attempts}, backoff={self.backoff!r})"

    def bound(self, *, name: str, clock: Clock, listeners: Sequence[ResilienceListener]) -> Retry:
        """A copy reporting under `name`, on `clock`, to `listeners` (the budget stays shared)."""
        twin = copy.copy(self)
        twin.name = name
        twin.clock = clock
        twin.listeners = tuple(self.listeners) + tuple(listeners)
        return twin

    def retryable(self, exc: BaseException) -> bool:
        """True when `exc` may be retried by this policy."""
        if self._retry_types is not None:
            return isinstance(exc, self._retry_types)
        assert self._retry_pred is not None
        return bool(self._retry_pred(exc))

    # -- the decision between two attempts ---------------------------------------------------

    def plan(self, attempt: int, previous: float, cause: Any, exc: BaseException | None) -> float:
        """Delay before attempt `attempt + 1`, or raise the error that ends the retrying.

        Returns -1.0 when the attempts are used up on a *result* (the caller returns it).
        """
        if attempt >= self.max_attempts:
            self._give_up(attempt, 0.0, cause, "attempts exhausted")
            if exc is not None:
                raise exc
            return -1.0
        delay = self.backoff.delay(attempt, previous)
        if exc is None:
            hint = None
        elif self.retry_after is None:
            hint = retry_after_of(exc)
        else:
            hint = retry_after_seconds(self.retry_after(exc))
        if hint is not None and hint > delay:
            if hint > MAX_RETRY_AFTER:
                self._give_up(attempt, hint, cause, "retry-after too long")
                raise RetryAfterTooLong(hint, MAX_RETRY_AFTER, ceiling=True) from exc
            delay = hint
        active = ACTIVE_DEADLINE.get()
        if active is not None:
            left = left_in(active)
            if left <= 0.0 or delay >= left:
                self._give_up(attempt, delay, cause, "deadline")
                if isinstance(exc, DeadlineExceeded):
                    raise exc
                if hint is not None and hint >= left:
                    err: DeadlineExceeded = RetryAfterTooLong(hint, left)
                else:
                    err = DeadlineExceeded(
                        f"deadline leaves {left:.3f}s, too little for retry {attempt + 1} "
                        f"after a {delay:.3f}s wait ({attempt} attempts made)",
                        time_left=left,
                    )
                if exc is None:
                    err.last_result = cause  # type: ignore[attr-defined]
                raise err from exc
        budget = self.budget
        if budget is not None and not budget.try_withdraw():
            self._give_up(attempt, delay, cause, "budget")
            if self.listeners:
                emit(
                    self.listeners,
                    ResilienceEvent(ev.BUDGET_EXHAUSTED, self.name, attempt, delay, exc),
                )
            raise RetryBudgetExhausted(self.name, attempt) from exc
        if self.on_retry is not None:
            self.on_retry(attempt, delay, cause)
        if self.listeners:
            emit(self.listeners, ResilienceEvent(ev.RETRY, self.name, attempt, delay, exc))
        return delay

    def _give_up(self, attempt: int, delay: float, cause: Any, reason: str) -> None:
        if self.on_give_up is not None:
            self.on_give_up(attempt, delay, cause)
        if self.listeners:
            error = cause if isinstance(cause, BaseException) else None
            emit(
                self.listeners,
                ResilienceEvent(
                    ev.GIVE_UP, self.name, attempt, delay, error, fields={"reason": reason}
                ),
            )

    # -- loops -------------------------------------------------------------------------------

    async def run_async(
        self,
        attempt_fn: AsyncAttempt | None,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run `fn` (through `attempt_fn` when given) until it succeeds or retrying ends."""
        if self.budget is not None:
            self.budget.deposit()
        on_result = self.retry_on_result
        attempt = 1
        previous = 0.0
        while True:
            try:
                call = fn(*args, **kwargs) if attempt_fn is None else attempt_fn(fn, args, kwargs)
                result = await call
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                delay = self.plan(attempt, previous, exc, exc)
            else:
                if on_result is None or not on_result(result):
                    return result
                delay = self.plan(attempt, previous, result, None)
                if delay < 0.0:
                    return result
            await self.clock.sleep(delay)
            previous = delay
            attempt += 1

    def run_sync(
        self,
        attempt_fn: SyncAttempt | None,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """The blocking twin of `run_async`: sleeps with `clock.sleep_sync` between attempts."""
        if self.budget is not None:
            self.budget.deposit()
        on_result = self.retry_on_result
        attempt = 1
        previous = 0.0
        while True:
            try:
                call = fn(*args, **kwargs) if attempt_fn is None else attempt_fn(fn, args, kwargs)
                result = call
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                delay = self.plan(attempt, previous, exc, exc)
            else:
                if on_result is None or not on_result(result):
                    return result
                delay = self.plan(attempt, previous, result, None)
                if delay < 0.0:
                    return result
            self.clock.sleep_sync(delay)
            previous = delay
            attempt += 1

    # -- standalone use ----------------------------------------------------------------------

    async def call_async(
        self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await `fn(*args, **kwargs)` with retries."""
        return cast(T, await self.run_async(None, fn, args, kwargs))

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call the sync `fn(*args, **kwargs)` with retries."""
        return cast(T, self.run_sync(None, fn, args, kwargs))

    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]:
        """Decorate `fn` (sync or async, chosen by inspecting it) with this retry policy."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await self.run_async(None, fn, args, kwargs)

            return cast(Callable[P, T], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return cast(T, self.run_sync(None, fn, args, kwargs))

        return wrapper
