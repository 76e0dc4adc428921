"""ApiClient: the async resilient HTTP client (aiohttp underneath, resilience Pipeline around).

Every logical call runs through its route's Pipeline: a total deadline (default 25 s), retries
of transient failures only (connect errors, timeouts, resets, 408/425/429/500/502/503/504) with
Retry-After honoured up to the time left, a circuit breaker that counts only unhealthy-dependency
errors, and optional bulkhead and rate limit. POST and PATCH are retried only with an
Idempotency-Key, the same on every attempt. Each attempt's connect and read timeouts shrink to
the time left in the deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import aiohttp

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.http.auth import Auth
from seawall.http.base import NO_JSON, Call, ClientBase, attempt_timeouts
from seawall.http.body import DEFAULT_MAX_RESPONSE_BYTES
from seawall.http.errors import ApiTimeout, ConfigurationError
from seawall.http.observe import CallListener, CallRecord, logger
from seawall.http.policy import DEFAULT, IdempotencyMode, QueryParams
from seawall.http.response import Response
from seawall.http.streaming import StreamedResponse, read_error_body
from seawall.http.transport import AiohttpTransport, RawResponse, Transport
from seawall.resilience import (
    Bulkhead,
    CircuitBreaker,
    DeadlineExceeded,
    RateLimiter,
    ResilienceListener,
    Retry,
    time_left,
)

__all__ = ["ApiClient"]


class ApiClient(ClientBase):
    """The async resilient HTTP client; use it as `async with ApiClient(...) as client`.

    Defaults: deadline 25 s per logical call, `default_retry()` (3 attempts), `default_breaker()`
    (opens for 30 s when half of at least 100 calls in 30 s failed), connect timeout 5 s and
    read timeout 20 s per attempt (both capped by the time left). Pass None to disable retry,
    breaker or deadline.
    `route(...)` overrides any of these for a method and path glob. A final non-2xx/3xx answer
    raises ClientError or ServerError; CircuitOpenError, RetryBudgetExhausted and
    RetryAfterTooLong from the resilience core pass through unchanged. `transport=` swaps the
    aiohttp pool for another Transport (for example HttpxTransport).
    """

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
        transport: Transport | None = None,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Sequence[ResilienceListener] = (),
        on_call: Iterable[CallListener | Callable[[CallRecord], None]] = (),
        name: str | None = None,
    ) -> None:
        super().__init__(
            base_url,
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
        self._owns_transport = transport is None
        self._transport: Transport = transport if transport is not None else AiohttpTransport()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = NO_JSON,
        content: bytes | str | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """Send one logical call (with retries) and return the final 2xx/3xx Response."""
        response, _ = await self._call(
            method, path, json, content, params, headers, idempotency_key, False
        )
        return response

    async def get(
        self,
        path: str,
        *,
        json: Any = NO_JSON,
        content: bytes | str | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """`request("GET", path, ...)`."""
        response, _ = await self._call(
            "GET", path, json, content, params, headers, idempotency_key, False
        )
        return response

    async def post(
        self,
        path: str,
        *,
        json: Any = NO_JSON,
        content: bytes | str | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """`request("POST", path, ...)`; retried only with an idempotency key."""
        response, _ = await self._call(
            "POST", path, json, content, params, headers, idempotency_key, False
        )
        return response

    async def put(
        self,
        path: str,
        *,
        json: Any = NO_JSON,
        content: bytes | str | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """`request("PUT", path, ...)`."""
        response, _ = await self._call(
            "PUT", path, json, content, params, headers, idempotency_key, False
        )
        return response

    async def patch(
        self,
        path: str,
        *,
        json: Any = NO_JSON,
        content: bytes | str | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """`request("PATCH", path, ...)`; retried only with an idempotency key."""
        response, _ = await self._call(
            "PATCH", path, json, content, params, headers, idempotency_key, False
        )
        return response

    async def delete(
        self,
        path: str,
        *,
        json: Any = NO_JSON,
        content: bytes | str | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """`request("DELETE", path, ...)`."""
        response, _ = await self._call(
            "DELETE", path, json, content, params, headers, idempotency_key, False
        )
        return response

    async def get_json(
        self,
        path: str,
        *,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET and parse JSON; an unparseable 2xx body is retried as a transient error."""
        _, data = await self._call("GET", path, NO_JSON, None, params, headers, None, True)
        return data

    async def post_json(
        self,
        path: str,
        json: Any,
        *,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """POST a JSON body and parse the JSON answer."""
        _, data = await self._call("POST", path, json, None, params, headers, idempotency_key, True)
        return data

    async def _call(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | str | None,
        params: QueryParams | None,
        headers: Mapping[str, str] | None,
        idempotency_key: str | None,
        parse: bool,
    ) -> tuple[Response, Any]:
        """One logical call through the route's pipeline."""
        call = self._start(method, path, json, content, params, headers, idempotency_key, parse)
        started = time.perf_counter()
        try:
            raw, data = await call.pipeline.execute_async(self._attempt, call)
        except Exception as exc:
            error = self._failed(exc, call, started)
            if error is exc:
                raise
            raise error from exc
        return self._succeeded(raw, call, started), data

    async def _attempt(self, call: Call) -> tuple[RawResponse, Any]:
        """One attempt: send with timeouts capped by the deadline, classify, maybe parse."""
        call.attempts += 1
        started = time.perf_counter()
        try:
            raw = await self._transport.send(
                call.method,
                call.url,
                call.headers,
                call.body,
                attempt_timeouts(call.policy),
                call.policy.max_response_bytes,
            )
            if raw.status < 400 and not call.parse:  # the common case, without a method call
                call.status = raw.status
                data = None
            else:
                data = self._check(raw, call)
        except BaseException as exc:
            self._attempt_failed(call, started, exc)
            if isinstance(exc, ApiTimeout) and (left := time_left()) is not None and left <= 0.0:
                # The read timeout was the time left: the deadline ended the attempt.
                raise DeadlineExceeded("deadline reached during the attempt") from exc
            raise
        if logger.isEnabledFor(logging.DEBUG):
            self._attempt_ok(call, started)
        return raw, data

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        json: Any = NO_JSON,
        content: bytes | str | None = None,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        max_bytes: int | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        """`async with client.stream("GET", path) as r: async for chunk in r.iter_bytes()`.

        The route's pipeline covers the request up to the status and headers; the body is not
        held in memory (and not bounded by `max_response_bytes`: `max_bytes` bounds it, None
        by default). Needs the default AiohttpTransport.
        """
        transport = self._transport
        if not isinstance(transport, AiohttpTransport):
            raise ConfigurationError("stream() needs the default AiohttpTransport")
        call = self._start(method, path, json, content, params, headers, idempotency_key, False)

        async def attempt(call: Call) -> aiohttp.ClientResponse:
            call.attempts += 1
            started = time.perf_counter()
            raw: aiohttp.ClientResponse | None = None
            try:
                raw = await transport.open(
                    call.method, call.url, call.headers, call.body, attempt_timeouts(call.policy)
                )
                if raw.status >= 400:
                    body = await read_error_body(
                        raw, limit=call.policy.max_response_bytes, method=method, url=call.url
                    )
                    self._check(RawResponse(raw.status, raw.headers, body), call)
                call.status = raw.status
            except BaseException as exc:
                if raw is not None:
                    raw.close()
                self._attempt_failed(call, started, exc)
                raise
            return raw

        started = time.perf_counter()
        try:
            raw = await call.pipeline.execute_async(attempt, call)
        except Exception as exc:
            error = self._failed(exc, call, started)
            if error is exc:
                raise
            raise error from exc
        try:
            yield StreamedResponse(
                raw,
                method=call.method,
                url=call.url,
                max_bytes=max_bytes,
                read_timeout=call.policy.read_timeout,
            )
        finally:
            raw.close()

    async def aclose(self) -> None:
        """Close the connection pool (when the client created it)."""
        if self._owns_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
