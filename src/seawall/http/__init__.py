"""Outbound HTTP with HTTP meaning on top of the resilience core: ApiClient and SyncApiClient."""

from __future__ import annotations

from seawall.http.auth import ApiKeyAuth, Auth, BearerAuth
from seawall.http.classify import (
    TRANSIENT_STATUSES,
    UNSAFE_METHODS,
    counts_as_breaker_failure,
    is_transient,
    parse_retry_after,
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
from seawall.http.policy import DEFAULT, RoutePolicy, default_breaker, default_retry
from seawall.http.redact import redact_headers, redact_text, redact_url
from seawall.http.response import Response
from seawall.http.sync_client import SyncApiClient
from seawall.http.transport import (
    AiohttpTransport,
    HttpxTransport,
    RawResponse,
    Timeouts,
    Transport,
)

__all__ = [
    "DEFAULT",
    "TRANSIENT_STATUSES",
    "UNSAFE_METHODS",
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
    "RawResponse",
    "Response",
    "RoutePolicy",
    "ServerError",
    "SyncApiClient",
    "Timeouts",
    "Transport",
    "counts_as_breaker_failure",
    "default_breaker",
    "default_retry",
    "is_transient",
    "parse_retry_after",
    "redact_headers",
    "redact_text",
    "redact_url",
]
