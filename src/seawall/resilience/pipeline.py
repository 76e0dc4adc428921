"""Pipeline: the policies composed in one documented order, for sync and async callables.

Order, outermost first: fallback > deadline > retry (with budget) > circuit breaker >
rate limiter > bulkhead > attempt timeout > the call. So the fallback also answers for an
exceeded deadline or an open breaker; every retry passes the breaker again; a bulkhead or rate
limit rejection is not a breaker failure; an attempt that times out *is* one.

A Pipeline is immutable once built and safe to share between threads and tasks; the policies it
holds (breaker, budget, bulkhead, limiter) carry the shared state. `replace(...)` makes a variant.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextvars import Token
from time import monotonic
from types import CoroutineType
from typing import Any, ParamSpec, TypeVar, cast, overload

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.resilience import events as ev
from seawall.resilience._resume import resume
from seawall.resilience.breaker import CircuitBreaker
from seawall.resilience.breaker_store import CircuitState
from seawall.resilience.bulkhead import Bulkhead
from seawall.resilience.deadline import (
    ACTIVE_DEADLINE,
    Active,
    Deadline,
    check_seconds,
    enter_deadline,
    left_in,
    now_fn,
)
from seawall.resilience.errors import CircuitOpenError, NoTimeLeft
from seawall.resilience.events import ResilienceEvent, ResilienceListener, emit
from seawall.resilience.fallback import Fallback
from seawall.resilience.ratelimit import RateLimiter
from seawall.resilience.retry import Retry
from seawall.resilience.watchdog import arm_at, expired, finish

__all__ = ["Pipeline"]

P = ParamSpec("P")
T = TypeVar("T")

_log = logging.getLogger("seawall.resilience")

FALLBACK_LOG_INTERVAL_S = 60.0
"""How often, at most, a pipeline logs that it serves its fallback because the breaker is open."""

_UNSET: Any = object()
_CLOSED = CircuitState.CLOSED


class Pipeline:
    """A named, reusable composition of resilience policies (see the module doc for the order).

    `deadline` is the total budget of one execution (seconds or a Deadline, measured on `clock`);
    `attempt_timeout` bounds each attempt, and each attempt gets min(attempt_timeout, time left).
    Inside the call, `time_left()` reports that attempt budget; async attempts are cancelled when
    it runs out (DeadlineExceeded, or AttemptTimeout when only the attempt's own limit was hit).

    `cancel_attempts=False` is for callees that bound themselves by `time_left()` (the HTTP
    clients' transports do): without an `attempt_timeout`, their attempts are then not cancelled
    at the deadline, which saves a cancellation timer per call; retry waits still stop there.
    """

    __slots__ = (
        "_attempt_timeout",
        "_breaker",
        "_bulkhead",
        "_cancel_attempts",
        "_config",
        "_deadline_s",
        "_fallback",
        "_fallback_logged_at",
        "_fallbacks_unlogged",
        "_gated",
        "_limiter",
        "_now",
        "_retry",
        "clock",
        "listeners",
        "name",
    )

    def __init__(
        self,
        name: str = "default",
        *,
        fallback: Fallback | None = None,
        deadline: float | Deadline | None = None,
        retry: Retry | None = None,
        breaker: CircuitBreaker | None = None,
        bulkhead: Bulkhead | None = None,
        rate_limiter: RateLimiter | None = None,
        attempt_timeout: float | None = None,
        cancel_attempts: bool = True,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Sequence[ResilienceListener] = (),
    ) -> None:
        self._config: dict[str, Any] = {
            "fallback": fallback,
            "deadline": deadline,
            "retry": retry,
            "breaker": breaker,
            "bulkhead": bulkhead,
            "rate_limiter": rate_limiter,
            "attempt_timeout": attempt_timeout,
            "cancel_attempts": cancel_attempts,
            "clock": clock,
            "listeners": tuple(listeners),
        }
        _check_type("fallback", fallback, Fallback)
        _check_type("retry", retry, Retry)
        _check_type("breaker", breaker, CircuitBreaker)
        _check_type("bulkhead", bulkhead, Bulkhead)
        _check_type("rate_limiter", rate_limiter, RateLimiter)
        self.name = name
        self.clock = clock
        self._now = now_fn(clock)
        self.listeners: tuple[ResilienceListener, ...] = tuple(listeners)
        self._fallback = fallback
        self._fallback_logged_at = float("-inf")
        self._fallbacks_unlogged = 0
        if deadline is None:
            self._deadline_s: float | None = None
        elif isinstance(deadline, Deadline):
            self._deadline_s = deadline.seconds
        else:
            self._deadline_s = check_seconds(deadline, "deadline")
        self._attempt_timeout = (
            None if attempt_timeout is None else check_seconds(attempt_timeout, "attempt_timeout")
        )
        self._retry = (
            None if retry is None else retry.bound(name=name, clock=clock, listeners=listeners)
        )
        self._breaker = breaker
        self._bulkhead = bulkhead
        self._limiter = rate_limiter
        self._gated = rate_limiter is not None or bulkhead is not None
        self._cancel_attempts = cancel_attempts

    def __repr__(self) -> str:
        parts = [
            f"{k}={v!r}"
            for k, v in self._config.items()
            if v not in (None, ()) and not (k == "cancel_attempts" and v)
        ]
        return f"Pipeline({self.name!r}, {', '.join(parts)})"

    @property
    def retry(self) -> Retry | None:
        """The retry policy (bound to this pipeline's name, clock and listeners)."""
        return self._retry

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The circuit breaker, if any."""
        return self._breaker

    @property
    def deadline_s(self) -> float | None:
        """The total budget of one execution in seconds, if any."""
        return self._deadline_s

    @property
    def attempt_timeout(self) -> float | None:
        """The per-attempt limit in seconds, if any."""
        return self._attempt_timeout

    def replace(self, **overrides: Any) -> Pipeline:
        """A copy with some policies swapped, e.g. `replace(retry=None, deadline=5.0)`."""
        unknown = set(overrides) - set(self._config) - {"name"}
        if unknown:
            raise TypeError(f"Pipeline.replace() got unknown policies: {sorted(unknown)}")
        config = {**self._config, **overrides}
        name = config.pop("name", self.name)
        return Pipeline(name, **config)

    # -- async ---------------------------------------------------------------------------------

    async def execute_async(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await `fn(*args, **kwargs)` through every policy of the pipeline."""
        # One coroutine frame for the whole pipeline, and the steps every call runs inlined: an
        # extra coroutine frame costs as much as a policy on the success path, and even a plain
        # call (~100 ns) measurably slows a deadline's execution (benchmarks/overhead.py). The
        # steps off that path are named: a nested deadline, an attempt's own limit, a failure.
        token = None
        try:
            active = ACTIVE_DEADLINE.get()
            if self._deadline_s is not None:
                if active is None:  # the common case stays inline: a call costs ~100 ns here
                    now = self._now
                    active = (now() + self._deadline_s, now)
                    token = ACTIVE_DEADLINE.set(active)
                else:
                    active, token = _nested_deadline(active, self._deadline_s, self._now)
            retry = self._retry
            if retry is not None and retry.budget is not None:
                retry.budget.deposit()
            breaker = self._breaker
            # The breaker's closed-state bookkeeping is inlined (see CircuitBreaker.acquire and
            # on_success): a closed, healthy, consecutive-mode breaker needs two reads per call.
            rec = breaker.record if breaker is not None else None
            timed = breaker is not None and breaker.slow_call_s is not None
            limit = self._attempt_timeout
            uncancelled = limit is None and (active is None or not self._cancel_attempts)
            attempt = 1
            previous = 0.0
            while True:
                try:
                    # -- one attempt: breaker > rate limit > bulkhead > attempt timeout > call
                    if rec is not None:
                        ticket = rec.generation
                        if rec.state is not _CLOSED:
                            assert breaker is not None
                            ticket = breaker.acquire()
                    else:
                        ticket = 0
                    if self._gated:
                        await self._pass_gates_async(ticket)
                    start = breaker.clock.monotonic() if timed and breaker is not None else 0.0
                    try:
                        if uncancelled:
                            if active is not None and active[0] - active[1]() <= 0.0:
                                raise NoTimeLeft
                            result = await fn(*args, **kwargs)
                        else:
                            # Budget of this attempt: the time left, or its own limit if
                            # sooner (a named step; the deadline's case stays inline, as above).
                            left = None if active is None else active[0] - active[1]()
                            if left is not None and (limit is None or left <= limit):
                                if left <= 0.0:
                                    raise NoTimeLeft
                                budget, by_deadline, inner = left, True, None
                                at = (
                                    active[0]
                                    if active is not None and active[1] is monotonic
                                    else monotonic() + left
                                )
                            else:
                                assert limit is not None
                                budget, by_deadline = limit, False
                                at, inner = _own_attempt_deadline(limit, self._now)
                            guard = None
                            try:
                                # Step the call once by hand: if it finishes without suspending,
                                # no timer could have fired, so none is armed (see _resume).
                                call = fn(*args, **kwargs)
                                if type(call) is CoroutineType:
                                    try:
                                        step = call.send(None)
                                    except StopIteration as stop:
                                        result = stop.value
                                    else:
                                        guard = arm_at(at)
                                        result = await resume(call, step)
                                else:
                                    guard = arm_at(at)
                                    result = await call
                            except BaseException as exc:
                                if guard is not None and finish(guard, exc):
                                    raise expired(by_deadline, budget) from None
                                raise
                            else:
                                if guard is not None:
                                    finish(guard, None)
                            finally:
                                if inner is not None:
                                    ACTIVE_DEADLINE.reset(inner)
                    except BaseException as exc:
                        if breaker is not None:
                            _count_failure(breaker, ticket, exc, start, timed)
                        raise
                    finally:
                        if self._bulkhead is not None:
                            self._bulkhead.release()
                    if breaker is not None:
                        assert rec is not None
                        if timed or breaker.is_failure_result is not None:
                            elapsed = breaker.clock.monotonic() - start if timed else 0.0
                            breaker.on_result(ticket, result, elapsed)
                        elif rec.state is not _CLOSED or rec.failures or breaker.counts_every_call:
                            breaker.on_success(ticket)
                except Exception as exc:
                    # -- retry decision on an error
                    if retry is None or not retry.retryable(exc):
                        raise
                    delay = retry.plan(attempt, previous, exc, exc)
                else:
                    if retry is None:
                        return result
                    on_result = retry.retry_on_result
                    if on_result is None or not on_result(result):
                        return result
                    delay = retry.plan(attempt, previous, result, None)
                    if delay < 0.0:
                        return result
                await retry.clock.sleep(delay)
                previous = delay
                attempt += 1
        except Exception as exc:
            fallback = self._fallback
            if fallback is None or not fallback.applies(exc):
                raise
            self._fell_back(exc)
            return cast(T, await fallback.resolve_async(exc))
        finally:
            if token is not None:
                ACTIVE_DEADLINE.reset(token)

    async def _pass_gates_async(self, ticket: int) -> None:
        """Rate limiter, then bulkhead; a rejection frees the breaker ticket (not a failure)."""
        try:
            if self._limiter is not None:
                await self._limiter.acquire_async()
            if self._bulkhead is not None:
                await self._bulkhead.acquire_async()
        except BaseException:
            if self._breaker is not None:
                self._breaker.on_release(ticket)
            raise

    # -- sync ----------------------------------------------------------------------------------

    def execute(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call the sync `fn(*args, **kwargs)` through every policy of the pipeline.

        Sync calls cannot be interrupted: they read `time_left()` and pass it down as timeouts.
        """
        try:
            seconds = self._deadline_s
            retry = self._retry
            if seconds is None:
                if retry is None:
                    return cast(T, self._attempt_sync(fn, args, kwargs))
                return cast(T, retry.run_sync(self._attempt_sync, fn, args, kwargs))
            token, _ = enter_deadline(seconds, self._now)
            try:
                if retry is None:
                    return cast(T, self._attempt_sync(fn, args, kwargs))
                return cast(T, retry.run_sync(self._attempt_sync, fn, args, kwargs))
            finally:
                ACTIVE_DEADLINE.reset(token)
        except Exception as exc:
            fallback = self._fallback
            if fallback is None or not fallback.applies(exc):
                raise
            self._fell_back(exc)
            return cast(T, fallback.resolve(exc))

    def _attempt_sync(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        breaker = self._breaker
        ticket = breaker.acquire() if breaker is not None else 0
        bulkhead = self._bulkhead
        if self._limiter is not None or bulkhead is not None:
            try:
                if self._limiter is not None:
                    self._limiter.acquire()
                if bulkhead is not None:
                    bulkhead.acquire()
            except BaseException:
                if breaker is not None:
                    breaker.on_release(ticket)
                raise
        timed = breaker is not None and breaker.slow_call_s is not None
        start = breaker.clock.monotonic() if timed and breaker is not None else 0.0
        try:
            limit = self._attempt_timeout
            if limit is None:
                active = ACTIVE_DEADLINE.get()
                if active is not None and left_in(active) <= 0.0:
                    raise NoTimeLeft
                result = fn(*args, **kwargs)
            else:
                token, left = enter_deadline(limit, self._now)
                try:
                    if left <= 0.0:
                        raise NoTimeLeft
                    result = fn(*args, **kwargs)
                finally:
                    ACTIVE_DEADLINE.reset(token)
        except BaseException as exc:
            if breaker is not None:
                _count_failure(breaker, ticket, exc, start, timed)
            raise
        finally:
            if bulkhead is not None:
                bulkhead.release()
        if breaker is not None:
            if timed or breaker.is_failure_result is not None:
                elapsed = breaker.clock.monotonic() - start if timed else 0.0
                breaker.on_result(ticket, result, elapsed)
            else:
                breaker.on_success(ticket)
        return result

    # -- decorator -----------------------------------------------------------------------------

    @overload
    def wrap(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]: ...
    @overload
    def wrap(self, fn: Callable[P, T]) -> Callable[P, T]: ...
    def wrap(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Wrap `fn` in this pipeline; async or sync is chosen by inspecting `fn`."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await self.execute_async(fn, *args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            return self.execute(fn, *args, **kwargs)

        return wrapper

    __call__ = wrap

    def _fell_back(self, exc: BaseException) -> None:
        if isinstance(exc, CircuitOpenError):
            self._log_open_fallback(exc)
        if self.listeners:
            emit(self.listeners, ResilienceEvent(ev.FALLBACK, self.name, error=exc))

    def _log_open_fallback(self, exc: CircuitOpenError) -> None:
        """Say (at most once per FALLBACK_LOG_INTERVAL_S) that the fallback answers because
        the breaker is open: otherwise a dependency can be down for hours in silence."""
        now = self.clock.monotonic()
        if now - self._fallback_logged_at < FALLBACK_LOG_INTERVAL_S:
            self._fallbacks_unlogged += 1
            return
        more = self._fallbacks_unlogged
        self._fallback_logged_at = now
        self._fallbacks_unlogged = 0
        _log.warning(
            "%s: serving the fallback because circuit breaker %r is open (it may close in "
            "%.1f s)%s",
            self.name,
            exc.name,
            exc.retry_after,
            f"; {more} more fallback(s) since the last line" if more else "",
            extra={"policy": self.name, "breaker": exc.name},
        )


def _check_type(what: str, value: object, kind: type) -> None:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"Pipeline({what}=...) takes a {kind.__name__}, not {type(value).__name__}")


def _nested_deadline(
    outer: Active, seconds: float, now: Callable[[], float]
) -> tuple[Active, Token[Active | None] | None]:
    """The deadline an async execution runs under inside an `outer` one, and the token to reset
    when it ends: None when `outer` is kept (it is the tighter one and runs on the same clock)."""
    outer_left = outer[0] - outer[1]()
    if outer_left < seconds:
        if outer[1] is now:
            return outer, None
        seconds = outer_left if outer_left > 0.0 else 0.0
    active = (now() + seconds, now)
    return active, ACTIVE_DEADLINE.set(active)


def _own_attempt_deadline(
    limit: float, now: Callable[[], float]
) -> tuple[float, Token[Active | None]]:
    """Activate an attempt's own limit (sooner than any deadline): its end on `time.monotonic`
    for the cancellation timer, and the token to reset when the attempt ends."""
    own = (now() + limit, now)
    token = ACTIVE_DEADLINE.set(own)
    # Another clock: the timer runs on real time from now.
    return (own[0] if now is monotonic else monotonic() + limit), token


def _count_failure(
    breaker: CircuitBreaker, ticket: int, exc: BaseException, start: float, timed: bool
) -> None:
    """Tell the breaker how an attempt ended in `exc` (NoTimeLeft: nothing was called)."""
    if isinstance(exc, NoTimeLeft):
        breaker.on_release(ticket)
    else:
        breaker.on_error(ticket, exc, breaker.clock.monotonic() - start if timed else 0.0)
