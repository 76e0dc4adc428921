"""seawall: keeps a Python service standing when the outside world fails.

The names below are the public surface; everything else is an internal layer (see README).
"""

from __future__ import annotations

from seawall._version import __version__
from seawall.commands import CommandService, InvokeContext, get_user_context
from seawall.http import (
    ApiClient,
    ApiError,
    ApiTimeout,
    ClientError,
    ServerError,
    SyncApiClient,
)
from seawall.idempotency import IdempotencyMiddleware, idempotent
from seawall.jobs import Queue, Worker
from seawall.payments import PaymentGatewayService
from seawall.resilience import (
    Bulkhead,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Deadline,
    Fallback,
    Pipeline,
    RateLimiter,
    Retry,
    RetryBudget,
    gather_settled,
    with_retry,
)
from seawall.store import open_store
from seawall.webhooks import Webhooks

__all__ = [
    "ApiClient",
    "ApiError",
    "ApiTimeout",
    "Bulkhead",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "ClientError",
    "CommandService",
    "Deadline",
    "Fallback",
    "IdempotencyMiddleware",
    "InvokeContext",
    "PaymentGatewayService",
    "Pipeline",
    "Queue",
    "RateLimiter",
    "Retry",
    "RetryBudget",
    "ServerError",
    "SyncApiClient",
    "Webhooks",
    "Worker",
    "__version__",
    "gather_settled",
    "get_user_context",
    "idempotent",
    "open_store",
    "with_retry",
]
