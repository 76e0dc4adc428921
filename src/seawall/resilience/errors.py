"""The named errors every resilience policy raises; each carries the facts behind it."""

from __future__ import annotations

__all__ = [
    "AttemptTimeout",
    "BulkheadFull",
    "CircuitOpenError",
    "DeadlineExceeded",
    "NoTimeLeft",
    "RateLimited",
    "ResilienceError",
    "RetryAfterTooLong",
    "RetryBudgetExhausted",
]


class ResilienceError(Exception):
    """Base of every error a seawall policy raises on its own account."""


class DeadlineExceeded(ResilienceError, TimeoutError):
    """The total time budget ran out; `__cause__` is the last attempt's error, if any."""

    def __init__(self, message: str = "deadline exceeded", *, time_left: float = 0.0) -> None:
        super().__init__(message)
        self.time_left = time_left


class RetryAfterTooLong(DeadlineExceeded):
    """The server asked us to wait longer than the deadline allows, so we gave up at once."""

    def __init__(self, retry_after: float, time_left: float, *, ceiling: bool = False) -> None:
        if ceiling:
            message = (
                f"server asked to retry after {retry_after:.3f}s, longer than the "
                f"{time_left:.0f}s any retry waits"
            )
        else:
            message = (
                f"server asked to retry after {retry_after:.3f}s but only {time_left:.3f}s are "
                "left before the deadline"
            )
        super().__init__(message, time_left=time_left)
        self.retry_after = retry_after


class NoTimeLeft(DeadlineExceeded):
    """The deadline had already run out before an attempt could start (nothing was called)."""

    def __init__(self) -> None:
        super().__init__("no time left in the deadline for another attempt", time_left=0.0)


class AttemptTimeout(ResilienceError, TimeoutError):
    """One attempt ran past its own timeout while the overall deadline still had time."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"attempt timed out after {timeout:.3f}s")
        self.timeout = timeout


class RetryBudgetExhausted(ResilienceError):
    """The retry budget is empty: retrying now would add more load than the budget allows."""

    def __init__(self, policy: str, attempt: int) -> None:
        super().__init__(
            f"retry budget of {policy!r} is exhausted after attempt {attempt}; "
            "the dependency is failing broadly, so no retry was made"
        )
        self.policy = policy
        self.attempt = attempt


class CircuitOpenError(ResilienceError):
    """The breaker rejected the call without running it; retry after `retry_after` seconds."""

    def __init__(self, name: str, retry_after: float, message: str | None = None) -> None:
        if message is None:
            if retry_after > 0:
                message = (  # starts with the guide's own text, which callers may match
                    f"Circuit breaker is open ({name!r}): calls fail fast for {retry_after:.1f} s "
                    "more, then a probe call tests the dependency"
                )
            else:
                message = (
                    f"Circuit breaker is open ({name!r}, half-open): its probe calls are in "
                    "flight; retry in a moment"
                )
        super().__init__(message)
        self.name = name
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        """Keep the facts when pickled (for example across process pools)."""
        return (type(self), (self.name, self.retry_after, str(self)))


class BulkheadFull(ResilienceError):
    """The bulkhead's concurrent slots and its waiting queue are full (or the wait ran out)."""

    def __init__(
        self, name: str, max_concurrent: int, max_queue: int, reason: str = "full"
    ) -> None:
        super().__init__(
            f"bulkhead {name!r} is {reason} ({max_concurrent} running, {max_queue} may wait)"
        )
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.retry_after: float | None = None


class RateLimited(ResilienceError):
    """The rate limiter has no token now and waiting for one would exceed the allowed wait."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"rate limit {name!r} reached; a token frees up in {retry_after:.3f}s")
        self.name = name
        self.retry_after = retry_after
