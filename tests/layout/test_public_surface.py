"""The public surface, pinned: `seawall.__all__` and every subpackage's `__all__`.

A name added to or removed from a package's surface must change this test too. Every exported
name resolves, is documented where it is defined, and lives in a public module of its package;
names kept importable for the library's own modules (`_HOMES` beyond `__all__`) resolve too.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

SURFACE: dict[str, set[str]] = {
    "seawall": {
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
    },
    "seawall.resilience": {
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
    },
    "seawall.http": {
        "AiohttpTransport",
        "ApiClient",
        "ApiConnectionError",
        "ApiDeadlineExceeded",
        "ApiError",
        "ApiKeyAuth",
        "ApiTimeout",
        "Auth",
        "BearerAuth",
        "CallListener",
        "CallRecord",
        "ClientError",
        "ConfigurationError",
        "HttpxTransport",
        "InvalidResponseError",
        "Response",
        "RoutePolicy",
        "ServerError",
        "SyncApiClient",
        "TRANSIENT_STATUSES",
        "Timeouts",
        "Transport",
        "default_breaker",
        "default_retry",
        "is_transient",
        "parse_retry_after",
        "with_retry",  # the guide's twin with its HTTP meaning; `seawall.with_retry` is this one
    },
    "seawall.webhooks": {
        "EventNotFoundError",
        "GUIDE_PATH",
        "GUIDE_SOURCE",
        "PermanentWebhookError",
        "QUEUE_NAME",
        "UNHANDLED_TYPE",
        "Router",
        "StoredEvent",
        "WebhookEndpoint",
        "WebhookEvent",
        "WebhookStats",
        "Webhooks",
        "default_router",
        "get_event",
        "guide_endpoint",
        "list_events",
        "on",
        "purge_events",
    },
    "seawall.jobs": {
        "BatchResult",
        "DeadLetter",
        "InvalidJobError",
        "Job",
        "JobError",
        "JobProducer",
        "JobQueue",
        "JobRun",
        "LeaseLostError",
        "Queue",
        "QueueStats",
        "RetryLater",
        "RunSummary",
        "Worker",
        "WorkerEvent",
        "run_retention",
    },
    "seawall.commands": {
        "CommandApi",
        "CommandError",
        "CommandInputModel",
        "CommandModel",
        "CommandNotFoundError",
        "CommandNotification",
        "CommandPartialInputModel",
        "CommandService",
        "DATA_SYNC_QUEUE",
        "DataModel",
        "DataSyncHandler",
        "DetailKey",
        "HEADER_TENANT_CODE",
        "InvalidTokenError",
        "InvokeContext",
        "ItemPage",
        "UserContext",
        "VERSION_FIRST",
        "VERSION_LATEST",
        "VersionConflictError",
        "VersionMismatchError",
        "add_sort_key_version",
        "command_status",
        "generate_id",
        "get_sort_key_version",
        "get_tenant_code",
        "get_user_context",
        "project",
        "remove_sort_key_version",
    },
    "seawall.idempotency": {
        "IdempotencyError",
        "IdempotencyInProgressError",
        "IdempotencyKeyError",
        "IdempotencyKeyMismatchError",
        "IdempotencyMiddleware",
        "IdempotencyPayloadError",
        "IdempotencyPersistence",
        "IdempotencyRecord",
        "IdempotencyResultError",
        "IdempotencyStore",
        "idempotent",
    },
    "seawall.payments": {
        "CHARGE_QUEUE",
        "GatewaySettings",
        "PAYMENT_EVENT_TYPES",
        "PAYMENT_STATUSES",
        "PAYMENT_TYPE",
        "PaymentError",
        "PaymentGatewayService",
        "PaymentRecord",
        "PaymentRecords",
        "PaymentRequest",
        "PaymentRequestError",
        "PaymentResponse",
        "PaymentStatus",
        "REFUND_QUEUE",
        "RecordStatus",
        "RefundResponse",
        "register_payment_webhooks",
    },
    "seawall.observability": {
        "SeawallMetrics",
        "bind_context",
        "configure_logging",
        "get_context",
        "get_metrics",
        "log_context",
    },
    "seawall.testing": {
        "FakeClock",
        "FakeProvider",
        "FaultPlan",
        "Latency",
        "Outage",
        "PaymentOutcomes",
        "ProviderEvent",
        "RouteFaults",
    },
    "seawall.ops": {
        "BreakerInfo",
        "BreakerRegistry",
        "OperatorError",
        "REGISTRY",
    },
    "seawall.dashboard": {
        "dashboard_routes",
    },
    "seawall.service": {
        "CheckReport",
        "ServiceApp",
        "add_problem_handlers",
        "build_app",
        "build_service",
        "check_config",
        "exception_handlers",
        "load_settings",
        "mount",
        "operator_lifespan",
        "operator_routes",
        "problem_response",
    },
    "seawall.store": {
        "Engine",
        "Row",
        "SchemaTooNewError",
        "Store",
        "StoreError",
        "StoreUnavailableError",
        "Tx",
        "open_store",
    },
    "seawall.demo": {
        "DemoError",
        "DemoOptions",
        "main",
        "run_demo",
        "run_resilience_demo",
    },
    "seawall.cli": {
        "cli",
        "main",
    },
    "seawall.aws": {
        "AwsClients",
        "AwsNames",
        "DynamoCommandService",
        "DynamoInbox",
        "DynamoTx",
        "LambdaWebhookReceiver",
        "SqsQueue",
        "SnsNotifier",
        "SqsWebhookWorker",
        "TransactionCancelledError",
        "enable_aws_secrets",
        "ensure_resources",
    },
}


@pytest.mark.parametrize("package", sorted(SURFACE))
def test_all_is_pinned(package: str) -> None:
    module = importlib.import_module(package)
    assert set(module.__all__) == SURFACE[package]
    assert len(module.__all__) == len(set(module.__all__)), "a name is listed twice"


@pytest.mark.parametrize("package", sorted(SURFACE))
def test_every_exported_name_resolves_from_a_public_module(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert name in dir(module)
        home = getattr(value, "__module__", None)
        if not (inspect.isclass(value) or inspect.isfunction(value)) or home is None:
            continue  # constants and instances have no home of their own
        assert home.startswith(package if package != "seawall" else "seawall."), (name, home)
        assert not any(part.startswith("_") for part in home.split(".")), (name, home)
        assert inspect.getdoc(value), f"{package}.{name} has no docstring"


@pytest.mark.parametrize("package", sorted(SURFACE))
def test_names_kept_for_the_library_still_resolve(package: str) -> None:
    module = importlib.import_module(package)
    for name in getattr(module, "_HOMES", {}):
        assert getattr(module, name) is getattr(importlib.import_module(module._HOMES[name]), name)


def test_unknown_names_raise_attribute_error() -> None:
    import seawall
    import seawall.resilience

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = seawall.Nope  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = seawall.resilience.Nope  # type: ignore[attr-defined]


def test_the_readme_import_line_works() -> None:
    from seawall import (  # noqa: F401
        ApiClient,
        ApiError,
        ApiTimeout,
        Bulkhead,
        CircuitBreaker,
        CircuitOpenError,
        CircuitState,
        ClientError,
        CommandService,
        Deadline,
        Fallback,
        IdempotencyMiddleware,
        InvokeContext,
        PaymentGatewayService,
        Pipeline,
        Queue,
        RateLimiter,
        Retry,
        RetryBudget,
        ServerError,
        SyncApiClient,
        Webhooks,
        Worker,
        gather_settled,
        get_user_context,
        idempotent,
        open_store,
        with_retry,
    )
    from seawall.testing import FakeClock, FakeProvider  # noqa: F401
