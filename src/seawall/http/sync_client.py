"""SyncApiClient: the blocking twin of ApiClient, with the same policies and semantics.

Sync calls cannot be interrupted mid-attempt, so each attempt's connect and read timeouts are
set to the time left in the deadline (the resilience core checks the deadline between attempts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.http.auth import Auth
from seawall.http.base import NO_JSON, Call, ClientBase, attempt_timeouts
from seawall.http.body import DEFAULT_MAX_RESPONSE_BYTES
from seawall.http.observe import CallListener, CallRecord
from seawall.http.policy import DEFAULT, IdempotencyMode, QueryParams
from seawall.http.response import Response
from seawall.http.sync_transport import SyncTransport, Urllib3Transport
from seawall.http.transport import RawResponse
from seawall.resilience import Bulkhead, CircuitBreaker, RateLimiter, ResilienceListener, Retry

__all__ = ["SyncApiClient"]


class SyncApiClient(ClientBase):
    """The blocking resilient HTTP client; use it as `with SyncApiClient(...) as client`.

    Same defaults, routes, errors, logs and metrics as ApiClient; sends through urllib3.
    Safe to share between threads.
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
        transport: SyncTransport | None = None,
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
        self._transport: SyncTransport = transport if transport is not None else Urllib3Transport()

    def request(
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
        response, _ = self._call(
            method, path, json, content, params, headers, idempotency_key, False
        )
        return response

    def get(self, path: str, **kwargs: Any) -> Response:
        """`request("GET", path, ...)`."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        """`request("POST", path, ...)`; retried only with an idempotency key."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Response:
        """`request("PUT", path, ...)`."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Response:
        """`request("PATCH", path, ...)`; retried only with an idempotency key."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        """`request("DELETE", path, ...)`."""
        return self.request("DELETE", path, **kwargs)

    def get_json(
        self,
        path: str,
        *,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET and parse JSON; an unparseable 2xx body is retried as a transient error."""
        return self._call("GET", path, NO_JSON, None, params, headers, None, True)[1]

    def post_json(
        self,
        path: str,
        json: Any,
        *,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """POST a JSON body and parse the JSON answer."""
        return self._call("POST", path, json, None, params, headers, idempotency_key, True)[1]

    def _call(
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
            raw, data = call.pipeline.execute(self._attempt, call)
        except Exception as exc:
            error = self._failed(exc, call, started)
            if error is exc:
                raise
            raise error from exc
        return self._succeeded(raw, call, started), data

    def _attempt(self, call: Call) -> tuple[RawResponse, Any]:
        """One attempt: send with timeouts capped by the deadline, classify, maybe parse."""
        call.attempts += 1
        started = time.perf_counter()
        try:
            raw = self._transport.send(
                call.method,
                call.url,
                call.headers,
                call.body,
                attempt_timeouts(call.policy),
                call.policy.max_response_bytes,
            )
            data = self._check(raw, call)
        except BaseException as exc:
            self._attempt_failed(call, started, exc)
            raise
        self._attempt_ok(call, started)
        return raw, data

    def close(self) -> None:
        """Close the connection pool (when the client created it)."""
        if self._owns_transport:
            self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
