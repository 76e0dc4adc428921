"""seawall: keeps a Python service standing when the outside world fails.

The names below are the public surface; everything else is an internal layer (see README).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export
from seawall._version import __version__

if TYPE_CHECKING:
    from seawall.commands import CommandService, InvokeContext, get_user_context
    from seawall.http import (
        ApiClient,
        ApiError,
        ApiTimeout,
        ClientError,
        ServerError,
        SyncApiClient,
        with_retry,
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

_HOMES = {
    "CommandService": "seawall.commands",
    "InvokeContext": "seawall.commands",
    "get_user_context": "seawall.commands",
    "ApiClient": "seawall.http",
    "ApiError": "seawall.http",
    "ApiTimeout": "seawall.http",
    "ClientError": "seawall.http",
    "ServerError": "seawall.http",
    "SyncApiClient": "seawall.http",
    "IdempotencyMiddleware": "seawall.idempotency",
    "idempotent": "seawall.idempotency",
    "Queue": "seawall.jobs",
    "Worker": "seawall.jobs",
    "PaymentGatewayService": "seawall.payments",
    "Bulkhead": "seawall.resilience",
    "CircuitBreaker": "seawall.resilience",
    "CircuitOpenError": "seawall.resilience",
    "CircuitState": "seawall.resilience",
    "Deadline": "seawall.resilience",
    "Fallback": "seawall.resilience",
    "Pipeline": "seawall.resilience",
    "RateLimiter": "seawall.resilience",
    "Retry": "seawall.resilience",
    "RetryBudget": "seawall.resilience",
    "gather_settled": "seawall.resilience",
    "with_retry": "seawall.http",
    "open_store": "seawall.store",
    "Webhooks": "seawall.webhooks",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
