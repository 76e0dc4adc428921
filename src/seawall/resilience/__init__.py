"""Resilience policies: retry, backoff, deadline, budget, breaker, bulkhead, rate limit, fallback.

Pure: no I/O, no HTTP, no storage. Time comes from an injectable Clock, so tests never sleep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    # Names after `as` are kept importable for the library's own modules, not the surface.
    from seawall.resilience.backoff import (
        Backoff,
        Constant,
        DecorrelatedJitter,
        EqualJitter,
        ExponentialJitter,
    )
    from seawall.resilience.breaker import CircuitBreaker
    from seawall.resilience.breaker_store import (
        BreakerRecord,
        BreakerStore,
        CircuitState,
        InMemoryBreakerStore,
    )
    from seawall.resilience.budget import RetryBudget
    from seawall.resilience.bulkhead import Bulkhead
    from seawall.resilience.deadline import Deadline, time_left
    from seawall.resilience.errors import (
        AttemptTimeout,
        BulkheadFull,
        CircuitOpenError,
        DeadlineExceeded,
        NoTimeLeft,
        RateLimited,
        ResilienceError,
        RetryAfterTooLong,
        RetryBudgetExhausted,
    )
    from seawall.resilience.events import LoggingListener, ResilienceEvent, ResilienceListener
    from seawall.resilience.fallback import Fallback
    from seawall.resilience.pipeline import Pipeline
    from seawall.resilience.ratelimit import RateLimiter
    from seawall.resilience.retry import (
        Retry,
    )
    from seawall.resilience.retry import (
        RetryHook as RetryHook,
    )
    from seawall.resilience.retry import (
        retry_after_of as retry_after_of,
    )
    from seawall.resilience.retry import (
        retry_after_seconds as retry_after_seconds,
    )
    from seawall.resilience.twins import (
        Outcome,
        Settled,
        gather_settled,
        with_retry,
    )

__all__ = [
    "AttemptTimeout",
    "Backoff",
    "BreakerRecord",
    "BreakerStore",
    "Bulkhead",
    "BulkheadFull",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "Constant",
    "Deadline",
    "DeadlineExceeded",
    "DecorrelatedJitter",
    "EqualJitter",
    "ExponentialJitter",
    "Fallback",
    "InMemoryBreakerStore",
    "LoggingListener",
    "NoTimeLeft",
    "Outcome",
    "Pipeline",
    "RateLimited",
    "RateLimiter",
    "ResilienceError",
    "ResilienceEvent",
    "ResilienceListener",
    "Retry",
    "RetryAfterTooLong",
    "RetryBudget",
    "RetryBudgetExhausted",
    "Settled",
    "gather_settled",
    "time_left",
    "with_retry",
]

_HOMES = {
    "Backoff": "seawall.resilience.backoff",
    "Constant": "seawall.resilience.backoff",
    "DecorrelatedJitter": "seawall.resilience.backoff",
    "EqualJitter": "seawall.resilience.backoff",
    "ExponentialJitter": "seawall.resilience.backoff",
    "CircuitBreaker": "seawall.resilience.breaker",
    "BreakerRecord": "seawall.resilience.breaker_store",
    "BreakerStore": "seawall.resilience.breaker_store",
    "CircuitState": "seawall.resilience.breaker_store",
    "InMemoryBreakerStore": "seawall.resilience.breaker_store",
    "RetryBudget": "seawall.resilience.budget",
    "Bulkhead": "seawall.resilience.bulkhead",
    "Deadline": "seawall.resilience.deadline",
    "time_left": "seawall.resilience.deadline",
    "AttemptTimeout": "seawall.resilience.errors",
    "BulkheadFull": "seawall.resilience.errors",
    "CircuitOpenError": "seawall.resilience.errors",
    "DeadlineExceeded": "seawall.resilience.errors",
    "NoTimeLeft": "seawall.resilience.errors",
    "RateLimited": "seawall.resilience.errors",
    "ResilienceError": "seawall.resilience.errors",
    "RetryAfterTooLong": "seawall.resilience.errors",
    "RetryBudgetExhausted": "seawall.resilience.errors",
    "LoggingListener": "seawall.resilience.events",
    "ResilienceEvent": "seawall.resilience.events",
    "ResilienceListener": "seawall.resilience.events",
    "Fallback": "seawall.resilience.fallback",
    "Pipeline": "seawall.resilience.pipeline",
    "RateLimiter": "seawall.resilience.ratelimit",
    "Retry": "seawall.resilience.retry",
    "RetryHook": "seawall.resilience.retry",
    "retry_after_of": "seawall.resilience.retry",
    "retry_after_seconds": "seawall.resilience.retry",
    "Outcome": "seawall.resilience.twins",
    "Settled": "seawall.resilience.twins",
    "gather_settled": "seawall.resilience.twins",
    "with_retry": "seawall.resilience.twins",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
