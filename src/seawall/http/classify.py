"""HTTP meaning for the resilience core: which answers are transient, Retry-After, safe methods."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC

from seawall.http.errors import ApiError, ClientError, ServerError
from seawall.resilience.retry import retry_after_seconds

__all__ = [
    "IDEMPOTENT_METHODS",
    "TRANSIENT_STATUSES",
    "UNDECIDED_CLIENT_STATUSES",
    "UNSAFE_METHODS",
    "counts_as_breaker_failure",
    "error_for_status",
    "is_transient",
    "may_have_taken_effect",
    "parse_retry_after",
    "permanent_client_error",
    "retry_after_from",
    "status_of",
]

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Statuses worth retrying: the same request may succeed later."""

UNDECIDED_CLIENT_STATUSES = frozenset({408, 409, 425, 429})
"""4xx answers that prove nothing about an unsafe request's effect (409: a request with the same
Idempotency-Key is still in progress at the server): resolve it later with the same key."""

UNSAFE_METHODS = frozenset({"POST", "PATCH"})
"""Methods retried only when the request carries an Idempotency-Key."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""Methods HTTP defines as idempotent: retried without a key."""


def parse_retry_after(value: str | float | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), or None.

    The one Retry-After parser. `value` is the header's text, or a number already in seconds;
    `now` is the current Unix time (used for the HTTP-date form; a date without a zone is UTC).
    Absent, unparseable, NaN and negative values give None (no hint: the backoff decides); a
    date in the past gives 0. Infinite and absurdly large values are returned as they are: the
    retry policy never sleeps on them but gives up at once. The numeric judgement is
    `seawall.resilience.retry.retry_after_seconds`, the one rule every retry applies.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return retry_after_seconds(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:  # older Pythons return None for some malformed dates
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            return max(0.0, when.timestamp() - now)
        except (OverflowError, ValueError, OSError):
            return None
    return retry_after_seconds(seconds)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an error carries in `.status` or `.response.status_code`, if any.

    Reads seawall's own errors and, by duck typing, those of requests, httpx and aiohttp.
    """
    for holder, attr in ((exc, "status"), (getattr(exc, "response", None), "status_code")):
        value = getattr(holder, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def permanent_client_error(exc: BaseException) -> bool:
    """The guide's rule, fixed for 429: a 4xx error is permanent, except 429 Too Many Requests.

    Errors without a status (timeouts, resets, anything else) and 5xx answers are not permanent.
    """
    status = status_of(exc)
    return status is not None and 400 <= status < 500 and status != 429


def retry_after_from(exc: BaseException, now: float) -> float | None:
    """The server's Retry-After carried by `exc`, in seconds, or None.

    Read from `exc.retry_after` (seconds, or the header's text), else from the `Retry-After`
    header of `exc.response.headers` or `exc.headers`; parsed by `parse_retry_after`.
    """
    direct = getattr(exc, "retry_after", None)
    if direct is not None:
        return parse_retry_after(direct, now)
    for holder in (getattr(exc, "response", None), exc):
        headers = getattr(holder, "headers", None)
        getter = getattr(headers, "get", None)
        if callable(getter):
            value = getter("Retry-After") or getter("retry-after")
            if value is not None:
                return parse_retry_after(value, now)
    return None


def error_for_status(
    status: int,
    *,
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    now: float,
) -> ApiError:
    """The named error for a non-2xx/3xx status, with Retry-After parsed for 429 and 5xx."""
    transient = status in TRANSIENT_STATUSES
    retry_after = None
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(headers.get("Retry-After"), now)
    cls: type[ApiError] = ServerError if status >= 500 else ClientError
    error = cls(
        f"HTTP {status}", method=method, url=url, status=status, body=body, retry_after=retry_after
    )
    error.transient = transient
    return error


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: transient statuses, timeouts, connection failures."""
    return isinstance(exc, ApiError) and exc.transient


def counts_as_breaker_failure(exc: BaseException) -> bool:
    """True for errors that say the dependency is unhealthy: transient 5xx, timeouts, resets.

    4xx answers (including 429: the dependency is up and asking us to slow down) never count,
    and neither do permanent 5xx such as 501.
    """
    if not isinstance(exc, ApiError):
        return False
    return exc.transient and not isinstance(exc, ClientError)


def may_have_taken_effect(exc: BaseException) -> bool:
    """True when a failed request may still have taken effect at the server (outcome unknown).

    Only a definite refusal proves nothing happened: a 4xx other than the undecided ones
    (408, 409, 425, 429) or a permanent non-transient 5xx. Timeouts, resets, transient 5xx and
    every error that is not an HTTP answer leave the outcome unknown.
    """
    if not isinstance(exc, ApiError) or exc.status is None:
        return True
    return exc.transient or exc.status in UNDECIDED_CLIENT_STATUSES
