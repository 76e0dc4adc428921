"""What the async and sync clients share: settings, routes, per-call state, errors, records."""

from __future__ import annotations

import json as _json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.http.auth import Auth
from seawall.http.body import DEFAULT_MAX_RESPONSE_BYTES
from seawall.http.classify import UNSAFE_METHODS, error_for_status
from seawall.http.errors import ApiDeadlineExceeded, ApiError, InvalidResponseError
from seawall.http.observe import (
    CallListener,
    CallRecord,
    emit_call,
    log_attempt,
    logger,
    outcome_of,
)
from seawall.http.policy import (
    DEFAULT,
    ClientSettings,
    IdempotencyMode,
    QueryParams,
    RoutePolicy,
)
from seawall.http.redact import redact_text
from seawall.http.response import Response
from seawall.http.transport import RawResponse, Timeouts
from seawall.resilience import (
    Bulkhead,
    CircuitBreaker,
    DeadlineExceeded,
    RateLimiter,
    ResilienceListener,
    Retry,
    RetryAfterTooLong,
    time_left,
)

__all__ = ["NO_JSON", "Call", "ClientBase", "attempt_timeouts"]

NO_JSON: Any = object()
"""Marks "no json= argument" (None is a valid JSON body)."""


class Call:
    """One logical call: the request every attempt sends, its route, and what happened so far."""

    __slots__ = (
        "attempts",
        "body",
        "headers",
        "key",
        "method",
        "parse",
        "pipeline",
        "policy",
        "safe_url",
        "status",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: str,
        safe_url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        policy: RoutePolicy,
        key: str | None,
        parse: bool,
    ) -> None:
        self.method = method
        self.url = url
        self.safe_url = safe_url
        """The URL with secrets redacted, for logs, records and errors."""
        self.headers = headers
        self.body = body
        self.policy = policy
        self.key = key
        self.parse = parse
        # Unsafe methods without a key get the pipeline that never retries.
        self.pipeline = (
            policy.single if key is None and method in UNSAFE_METHODS else policy.pipeline
        )
        self.attempts = 0
        self.status: int | None = None


def attempt_timeouts(policy: RoutePolicy) -> Timeouts:
    """Connect and read timeouts for the next attempt, capped by the time left in the deadline."""
    left = time_left()
    if left is None:
        return policy.timeouts
    if left <= 0.0:
        raise DeadlineExceeded("no time left for another attempt")
    connect, read = policy.timeouts
    if left >= read and left >= connect:
        return policy.timeouts
    return Timeouts(min(connect, left), min(read, left))


class ClientBase:
    """Settings, routes, response checks, logging and metrics common to both clients."""

    def __init__(
        self,
        base_url: str = "",
        *,
        auth: Auth | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = 25.0,
        retry: Retry | None = DEFAULT,
        breaker: CircuitBreaker | None = DEFAULT,
        bulkhead: Bulkhead | None = None,
        rate_limit: RateLimiter | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        idempotency: IdempotencyMode = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Sequence[ResilienceListener] = (),
        on_call: Iterable[CallListener | Callable[[CallRecord], None]] = (),
        name: str | None = None,
    ) -> None:
        self._settings = ClientSettings(
            base_url=base_url,
            auth=auth,
            headers=headers,
            deadline=deadline,
            retry=retry,
            breaker=breaker,
            bulkhead=bulkhead,
            rate_limit=rate_limit,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            idempotency=idempotency,
            max_response_bytes=max_response_bytes,
            clock=clock,
            listeners=listeners,
            on_call=on_call,
            name=name,
        )

    @property
    def settings(self) -> ClientSettings:
        """The resolved settings (base URL, default policy, routes)."""
        return self._settings

    def route(
        self,
        method: str,
        pattern: str,
        *,
        deadline: float | None = DEFAULT,
        retry: Retry | None = DEFAULT,
        breaker: CircuitBreaker | None = DEFAULT,
        bulkhead: Bulkhead | None = DEFAULT,
        rate_limit: RateLimiter | None = DEFAULT,
        connect_timeout: float = DEFAULT,
        read_timeout: float = DEFAULT,
        idempotency: IdempotencyMode = DEFAULT,
        max_response_bytes: int | None = DEFAULT,
    ) -> RoutePolicy:
        """Override policies for `method` ("*" for any) and a path glob like `/reports/*`.

        Settings left out keep the client's defaults (including its breaker instance, so the
        route shares the client's circuit). Routes match in the order they were added.
        """
        return self._settings.add_route(
            method,
            pattern,
            {
                "deadline": deadline,
                "retry": retry,
                "breaker": breaker,
                "bulkhead": bulkhead,
                "rate_limit": rate_limit,
                "connect_timeout": connect_timeout,
                "read_timeout": read_timeout,
                "idempotency": idempotency,
                "max_response_bytes": max_response_bytes,
            },
        )

    def _start(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | str | None,
        params: QueryParams | None,
        headers: Mapping[str, str] | None,
        idempotency_key: str | None,
        parse: bool,
    ) -> Call:
        """The logical call for a request: route policy, URL, headers, body and key."""
        settings = self._settings
        method = method.upper()
        policy, url, safe_url = settings.target(method, path, params)
        send_headers, body, key = settings.prepare(
            method,
            policy,
            json=json,
            content=content,
            headers=headers,
            idempotency_key=idempotency_key,
            has_json=json is not NO_JSON,
        )
        return Call(method, url, safe_url, send_headers, body, policy, key, parse)

    # -- one attempt ---------------------------------------------------------------------------

    def _check(self, raw: RawResponse, call: Call) -> Any:
        """Raise the named error for a non-2xx/3xx answer; parse JSON when asked."""
        call.status = status = raw.status
        if status >= 400:
            raise error_for_status(
                status,
                method=call.method,
                url=call.safe_url,
                body=raw.content,
                headers=raw.headers,
                now=self._settings.clock.time(),
            )
        if not call.parse:
            return None
        try:
            return _json.loads(raw.content)
        except ValueError as exc:
            reason = exc.msg if isinstance(exc, _json.JSONDecodeError) else str(exc)
            raise InvalidResponseError(
                f"invalid JSON: {reason}",
                method=call.method,
                url=call.safe_url,
                status=status,
                body=raw.content,
            ) from None

    def _attempt_failed(self, call: Call, started: float, exc: BaseException) -> None:
        """Stamp the attempt's facts on an ApiError and log the attempt."""
        duration = time.perf_counter() - started
        if isinstance(exc, ApiError):
            exc.attempts = call.attempts
            exc.elapsed = duration
        if logger.isEnabledFor(logging.DEBUG):
            status = exc.status if isinstance(exc, ApiError) else None
            log_attempt(call.method, call.safe_url, call.attempts, status, duration, call.key, exc)

    def _attempt_ok(self, call: Call, started: float) -> None:
        """Log a successful attempt (only when DEBUG is on)."""
        if logger.isEnabledFor(logging.DEBUG):
            duration = time.perf_counter() - started
            log_attempt(
                call.method,
                call.safe_url,
                call.attempts,
                call.status,
                duration,
                call.key,
                None,
            )

    # -- the whole call ------------------------------------------------------------------------

    def _succeeded(self, raw: RawResponse, call: Call, started: float) -> Response:
        """Record the finished call and build the Response."""
        elapsed = time.perf_counter() - started
        if self._settings.on_call or logger.isEnabledFor(logging.INFO):
            self._record(call, elapsed, None)
        return Response(
            raw.status,
            raw.headers,
            raw.content,
            elapsed,
            call.attempts,
            call.method,
            call.safe_url,
        )

    def _failed(self, exc: BaseException, call: Call, started: float) -> BaseException:
        """Fill in the whole call's facts on the error, record the call, return what to raise.

        A deadline that ran out (not RetryAfterTooLong) becomes ApiDeadlineExceeded, which is
        both an ApiTimeout and a DeadlineExceeded.
        """
        elapsed = time.perf_counter() - started
        error = exc
        if isinstance(exc, ApiError):
            exc.attempts = call.attempts
            exc.elapsed = elapsed
            if exc.transient and call.key is None and call.method in UNSAFE_METHODS:
                exc.message += (
                    f" (not retried: a {call.method} without an Idempotency-Key could apply "
                    "twice; pass idempotency_key= to make it safe to retry)"
                )
        elif isinstance(exc, DeadlineExceeded) and not isinstance(exc, RetryAfterTooLong):
            cause = exc.__cause__
            timeout = ApiDeadlineExceeded(
                f"deadline exceeded: {redact_text(str(exc), self._settings.secrets)}",
                method=call.method,
                url=call.safe_url,
                time_left=exc.time_left,
            )
            timeout.attempts = call.attempts
            timeout.elapsed = elapsed
            if isinstance(cause, ApiError):
                timeout.status = cause.status
            error = timeout
        self._record(call, elapsed, error)
        return error

    def _record(self, call: Call, elapsed: float, error: BaseException | None) -> None:
        """Log the finished call and notify metrics listeners."""
        settings = self._settings
        url = call.url
        if error is None:
            status: int | None = call.status
        else:
            status = error.status if isinstance(error, ApiError) else None
        if settings.base_url and url.startswith(settings.base_url):
            host = settings.host
        else:
            host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        record = CallRecord(
            method=call.method,
            host=host,
            route=call.policy.pattern,
            url=call.safe_url,
            status=status,
            outcome=outcome_of(error, status),
            attempts=call.attempts,
            elapsed=elapsed,
            idempotency_key=call.key,
        )
        emit_call(record, settings.on_call, error)
