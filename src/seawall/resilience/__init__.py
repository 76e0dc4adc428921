"""Resilience policies: retry, backoff, deadline, budget, breaker, bulkhead, rate limit, fallback.

Pure: no I/O, no HTTP, no storage. Time comes from an injectable Clock, so tests never sleep.
"""

from __future__ import annotations

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
from seawall.resilience.retry import Retry, RetryHook, retry_after_of
from seawall.resilience.twins import Outcome, Settled, gather_settled, status_of, with_retry

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
    "RetryHook",
    "Settled",
    "gather_settled",
    "retry_after_of",
    "status_of",
    "time_left",
    "with_retry",
]
