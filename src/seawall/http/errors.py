"""The outbound HTTP error hierarchy: each error carries the facts of the failed call."""

from __future__ import annotations

from seawall.resilience.errors import DeadlineExceeded

__all__ = [
    "BODY_EXCERPT_LIMIT",
    "ApiConnectionError",
    "ApiDeadlineExceeded",
    "ApiError",
    "ApiTimeout",
    "ClientError",
    "ConfigurationError",
    "InvalidResponseError",
    "ResponseTooLarge",
    "ServerError",
]

BODY_EXCERPT_LIMIT = 512
"""Bytes of a response body kept on an error (enough to read the provider's message)."""


class ConfigurationError(ValueError):
    """The client was configured with a value it cannot use; the message says what to change."""


class ApiError(Exception):
    """An outbound call failed; carries method, redacted URL, status, body excerpt and timings.

    `attempts` and `elapsed` describe the whole logical call once it has ended (the client fills
    them in when it gives up); during a call they describe the attempt that raised.
    """

    transient: bool = False
    """Whether retrying the same request may succeed."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int | None = None,
        body: bytes = b"",
        attempts: int = 1,
        elapsed: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.status = status
        self.body_excerpt = body[:BODY_EXCERPT_LIMIT].decode("utf-8", "replace")
        self.attempts = attempts
        self.elapsed = elapsed
        self.retry_after = retry_after

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.status is not None else ""
        tries = "attempt" if self.attempts == 1 else "attempts"
        text = (
            f"{self.method} {self.url}{status}: {self.message} "
            f"({self.attempts} {tries}, {self.elapsed:.3f}s)"
        )
        if self.body_excerpt:
            text += f" body: {self.body_excerpt!r}"
        return text


class ClientError(ApiError):
    """A 4xx answer. Permanent (never retried, never counted by the breaker) except 408/425/429."""


class ServerError(ApiError):
    """A 5xx answer; 500/502/503/504 are transient and retried, others (501, 505...) are not."""


class ApiTimeout(ApiError):
    """The connect or read timeout of an attempt expired, or the call's deadline ran out."""

    transient = True


class ApiDeadlineExceeded(ApiTimeout, DeadlineExceeded):
    """The call's total deadline ran out; also a `DeadlineExceeded` of the resilience core."""

    def __init__(self, message: str, *, method: str, url: str, time_left: float = 0.0) -> None:
        super().__init__(message, method=method, url=url)
        self.time_left = time_left


class ApiConnectionError(ApiError):
    """The connection failed: refused, reset, or the response was cut mid-body."""

    transient = True


class InvalidResponseError(ApiError):
    """The server answered 2xx with a body that is not the JSON the call asked for."""

    transient = True


class ResponseTooLarge(ApiError):
    """The response body passed `max_response_bytes` (after decompression) or the ratio guard.

    Not transient (the same request gets the same body) and never counted by the breaker.
    Use `ApiClient.stream(...)` to read bodies larger than any sensible in-memory limit.
    """

    def __init__(self, message: str, *, method: str, url: str, limit: int | None) -> None:
        super().__init__(message, method=method, url=url)
        self.limit = limit
