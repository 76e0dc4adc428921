"""Outbound HTTP with HTTP meaning on top of the resilience core: ApiClient and SyncApiClient."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    # Names after `as` are kept importable for the library's own modules, not the surface.
    from seawall.http.auth import ApiKeyAuth, Auth, BearerAuth
    from seawall.http.classify import (
        TRANSIENT_STATUSES,
        is_transient,
        parse_retry_after,
    )
    from seawall.http.classify import (
        UNSAFE_METHODS as UNSAFE_METHODS,
    )
    from seawall.http.classify import (
        counts_as_breaker_failure as counts_as_breaker_failure,
    )
    from seawall.http.classify import (
        permanent_client_error as permanent_client_error,
    )
    from seawall.http.classify import (
        retry_after_from as retry_after_from,
    )
    from seawall.http.classify import (
        status_of as status_of,
    )
    from seawall.http.client import ApiClient
    from seawall.http.errors import (
        ApiConnectionError,
        ApiDeadlineExceeded,
        ApiError,
        ApiTimeout,
        ClientError,
        ConfigurationError,
        InvalidResponseError,
        ServerError,
    )
    from seawall.http.observe import CallListener, CallRecord
    from seawall.http.policy import DEFAULT as DEFAULT
    from seawall.http.policy import RoutePolicy, default_breaker, default_retry
    from seawall.http.redact import (
        redact_headers as redact_headers,
    )
    from seawall.http.redact import (
        redact_text as redact_text,
    )
    from seawall.http.redact import (
        redact_url as redact_url,
    )
    from seawall.http.response import Response
    from seawall.http.sync_client import SyncApiClient
    from seawall.http.transport import (
        AiohttpTransport,
        HttpxTransport,
        Timeouts,
        Transport,
    )
    from seawall.http.transport import (
        RawResponse as RawResponse,
    )
    from seawall.http.twins import with_retry

__all__ = [
    "TRANSIENT_STATUSES",
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
    "Timeouts",
    "Transport",
    "default_breaker",
    "default_retry",
    "is_transient",
    "parse_retry_after",
    "with_retry",
]

_HOMES = {
    "ApiKeyAuth": "seawall.http.auth",
    "Auth": "seawall.http.auth",
    "BearerAuth": "seawall.http.auth",
    "TRANSIENT_STATUSES": "seawall.http.classify",
    "UNSAFE_METHODS": "seawall.http.classify",
    "counts_as_breaker_failure": "seawall.http.classify",
    "is_transient": "seawall.http.classify",
    "parse_retry_after": "seawall.http.classify",
    "permanent_client_error": "seawall.http.classify",
    "retry_after_from": "seawall.http.classify",
    "status_of": "seawall.http.classify",
    "ApiClient": "seawall.http.client",
    "ApiConnectionError": "seawall.http.errors",
    "ApiDeadlineExceeded": "seawall.http.errors",
    "ApiError": "seawall.http.errors",
    "ApiTimeout": "seawall.http.errors",
    "ClientError": "seawall.http.errors",
    "ConfigurationError": "seawall.http.errors",
    "InvalidResponseError": "seawall.http.errors",
    "ServerError": "seawall.http.errors",
    "CallListener": "seawall.http.observe",
    "CallRecord": "seawall.http.observe",
    "DEFAULT": "seawall.http.policy",
    "RoutePolicy": "seawall.http.policy",
    "default_breaker": "seawall.http.policy",
    "default_retry": "seawall.http.policy",
    "redact_headers": "seawall.http.redact",
    "redact_text": "seawall.http.redact",
    "redact_url": "seawall.http.redact",
    "Response": "seawall.http.response",
    "SyncApiClient": "seawall.http.sync_client",
    "AiohttpTransport": "seawall.http.transport",
    "HttpxTransport": "seawall.http.transport",
    "RawResponse": "seawall.http.transport",
    "Timeouts": "seawall.http.transport",
    "Transport": "seawall.http.transport",
    "with_retry": "seawall.http.twins",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
