"""Client settings and per-route policies shared by the async and sync clients.

A route policy is the resilience Pipeline (deadline, retry, breaker, bulkhead, rate limit) and
the HTTP settings (timeouts, idempotency mode) that apply to requests matching a method and a
path pattern. Routes are matched in the order they were added; the first match wins, and
requests matching no route use the client's defaults.
"""

from __future__ import annotations

import fnmatch
import json as _json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from seawall._version import __version__
from seawall.clock import Clock
from seawall.http.auth import Auth
from seawall.http.body import ACCEPT_ENCODING
from seawall.http.classify import UNSAFE_METHODS, counts_as_breaker_failure, is_transient
from seawall.http.errors import ConfigurationError
from seawall.http.observe import CallListener, CallRecord
from seawall.http.redact import redact_url
from seawall.http.transport import Timeouts
from seawall.resilience import (
    Bulkhead,
    CircuitBreaker,
    Pipeline,
    RateLimiter,
    ResilienceListener,
    Retry,
)

__all__ = [
    "DEFAULT",
    "ClientSettings",
    "IdempotencyMode",
    "QueryParams",
    "RoutePolicy",
    "default_breaker",
    "default_retry",
    "http_breaker",
    "http_retry",
]

IdempotencyMode = Literal["auto", "required"] | None
"""None: keys only when the caller gives one; "auto": one generated per logical unsafe call;
"required": an unsafe call without a key raises ConfigurationError."""

QueryParams = Mapping[str, str | int | float | bool | Sequence[str | int | float]]
"""Query parameters; a sequence value repeats the parameter."""


class _Default:
    """Marks "use the client's default" in signatures where None means "disabled"."""

    _instance: _Default | None = None

    def __new__(cls) -> _Default:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()
"""The default policy (pass None instead to disable a policy)."""

_MODES = (None, "auto", "required")

USER_AGENT = f"seawall/{__version__}"
"""Sent unless the caller gives its own User-Agent (many APIs ask clients to name themselves)."""


def default_retry(clock: Clock) -> Retry:
    """The client's default retry: 3 attempts, exponential backoff with full jitter from 0.1 s."""
    return Retry(max_attempts=3, clock=clock)


def default_breaker(name: str, clock: Clock) -> CircuitBreaker:
    """The client's default breaker: a failure ratio over a sliding window, as Polly v8 and
    resilience4j do it; open for 30 s (the guide's reset timeout) once, within 30 s, at least
    100 calls were seen and half of them failed.

    A burst of concurrent failures (40 payments whose first attempt each got a 503) does not
    open it, so their retries can succeed; a dependency failing 20% of calls does not flap it;
    a sustained outage at 100 calls/s opens it within a second. The guide's consecutive breaker
    is `CircuitBreaker(failure_threshold=5)`, passed as `breaker=`.
    """
    return CircuitBreaker(
        reset_timeout_ms=30000,
        mode="ratio",
        failure_rate_threshold=0.5,
        window_s=30.0,
        minimum_calls=100,
        name=name,
        clock=clock,
    )


def http_retry(retry: Retry | None) -> Retry | None:
    """A copy of `retry` that retries only transient HTTP errors (and what `retry` allows).

    4xx answers other than 408/425/429, open breakers and exhausted budgets are never retried.
    """
    if retry is None:
        return None
    allowed = retry.retryable

    def retry_on(exc: BaseException) -> bool:
        return is_transient(exc) and allowed(exc)

    return Retry(
        retry.max_attempts,
        retry.backoff,
        retry_on=retry_on,
        retry_on_result=retry.retry_on_result,
        budget=retry.budget,
        on_retry=retry.on_retry,
        on_give_up=retry.on_give_up,
        name=retry.name,
        clock=retry.clock,
        listeners=retry.listeners,
    )


def http_breaker(breaker: CircuitBreaker | None) -> CircuitBreaker | None:
    """`breaker` as the client uses it: counting only unhealthy-dependency errors unless it has an
    `is_failure` of its own.

    With no predicate set, the client uses a view of the same breaker state with this rule:
    transient 5xx, timeouts and connection failures count; 4xx answers (429 included) never do.
    The caller's breaker object is never changed.
    """
    if breaker is not None and breaker.is_failure is None:
        return breaker.sharing_state(is_failure=counts_as_breaker_failure)
    return breaker


def _check_seconds(name: str, value: float | None, *, allow_none: bool) -> float | None:
    """Validate a positive number of seconds."""
    if value is None:
        if allow_none:
            return None
        raise ConfigurationError(f"{name} must be a positive number of seconds, not None")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _check_size(value: int | None) -> int | None:
    """Validate a response size limit: a positive number of bytes, or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"max_response_bytes must be a positive number of bytes or None, got {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """What applies to one request: pipelines (retrying and single-shot), timeouts, idempotency."""

    pattern: str
    pipeline: Pipeline
    single: Pipeline
    """The same pipeline without retry, for unsafe methods sent without an Idempotency-Key."""
    connect_timeout: float
    read_timeout: float
    idempotency: IdempotencyMode
    timeouts: Timeouts
    """The configured timeouts, used as they are when the deadline leaves more time."""
    max_response_bytes: int | None
    """Largest decoded response body held in memory (None: no limit); see `seawall.http.body`."""


class ClientSettings:
    """Everything an ApiClient or SyncApiClient knows before a request: URL, headers, routes.

    `retry` and `breaker` may be DEFAULT (the client's defaults) or None (disabled).
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth | None,
        headers: Mapping[str, str] | None,
        deadline: float | None,
        retry: Retry | None,
        breaker: CircuitBreaker | None,
        bulkhead: Bulkhead | None,
        rate_limit: RateLimiter | None,
        connect_timeout: float,
        read_timeout: float,
        idempotency: IdempotencyMode,
        max_response_bytes: int | None,
        clock: Clock,
        listeners: Sequence[ResilienceListener],
        on_call: Iterable[CallListener | Callable[[CallRecord], None]],
        name: str | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url) if self.base_url else None
        if parts is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ConfigurationError(
                f"base_url must look like 'https://api.example.com', got {base_url!r}"
            )
        self.host = parts.netloc.rsplit("@", 1)[-1] if parts is not None else ""
        self.name = name or (f"http:{self.host}" if self.host else "http")
        self.auth = auth
        self.secrets: tuple[str, ...] = auth.secret_values if auth is not None else ()
        merged: dict[str, str] = {}
        names: dict[str, str] = {}
        for source in (
            {
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                "User-Agent": USER_AGENT,
            },
            headers or {},
        ):
            for name, value in source.items():
                _put_header(merged, names, name, value)
        for name, value in (auth.headers if auth is not None else {}).items():
            _put_header(merged, names, name, value)
        self.headers = merged
        self._header_names = names
        self.clock = clock
        self.listeners = tuple(listeners)
        self.on_call: tuple[Callable[[CallRecord], None], ...] = tuple(
            listener.on_call if isinstance(listener, CallListener) else listener
            for listener in on_call
        )
        self._defaults: dict[str, Any] = {
            "deadline": _check_seconds("deadline", deadline, allow_none=True),
            "retry": default_retry(clock) if retry is DEFAULT else retry,
            "breaker": http_breaker(
                default_breaker(self.name, clock) if breaker is DEFAULT else breaker
            ),
            "bulkhead": bulkhead,
            "rate_limit": rate_limit,
            "connect_timeout": _check_seconds("connect_timeout", connect_timeout, allow_none=False),
            "read_timeout": _check_seconds("read_timeout", read_timeout, allow_none=False),
            "idempotency": self._check_mode(idempotency),
            "max_response_bytes": _check_size(max_response_bytes),
        }
        self.default_policy = self._build("*", self._defaults)
        self._routes: list[tuple[str, str, RoutePolicy]] = []
        self._cache: dict[tuple[str, str], RoutePolicy] = {}
        self._targets: dict[tuple[str, str], tuple[RoutePolicy, str, str]] = {}

    @staticmethod
    def _check_mode(mode: IdempotencyMode) -> IdempotencyMode:
        if mode not in _MODES:
            raise ConfigurationError(
                f"idempotency must be None, 'auto' or 'required', not {mode!r}"
            )
        return mode

    def _build(self, pattern: str, config: Mapping[str, Any]) -> RoutePolicy:
        """Assemble the pipelines for one route."""
        pipeline = Pipeline(
            f"{self.name} {pattern}" if pattern != "*" else self.name,
            deadline=config["deadline"],
            retry=http_retry(config["retry"]),
            breaker=config["breaker"],  # already the client's view (see http_breaker)
            bulkhead=config["bulkhead"],
            rate_limiter=config["rate_limit"],
            # Each attempt's read timeout is capped by the time left, so the transport ends it
            # at the deadline; the pipeline need not cancel it too.
            cancel_attempts=False,
            clock=self.clock,
            listeners=self.listeners,
        )
        return RoutePolicy(
            pattern=pattern,
            pipeline=pipeline,
            single=pipeline.replace(retry=None) if pipeline.retry is not None else pipeline,
            connect_timeout=config["connect_timeout"],
            read_timeout=config["read_timeout"],
            idempotency=config["idempotency"],
            timeouts=Timeouts(config["connect_timeout"], config["read_timeout"]),
            max_response_bytes=config["max_response_bytes"],
        )

    def add_route(self, method: str, pattern: str, overrides: Mapping[str, Any]) -> RoutePolicy:
        """Register a policy for `method` (or "*") and a path glob such as `/reports/*`."""
        unknown = set(overrides) - set(self._defaults)
        if unknown:
            raise ConfigurationError(
                f"route() got unknown settings {sorted(unknown)}; known: {sorted(self._defaults)}"
            )
        config = dict(self._defaults)
        for key, value in overrides.items():
            if value is DEFAULT:
                continue
            if key == "deadline":
                value = _check_seconds("deadline", value, allow_none=True)
            elif key in ("connect_timeout", "read_timeout"):
                value = _check_seconds(key, value, allow_none=False)
            elif key == "idempotency":
                value = self._check_mode(value)
            elif key == "max_response_bytes":
                value = _check_size(value)
            elif key == "breaker":
                value = http_breaker(value)
            config[key] = value
        if not pattern.startswith("/") and pattern != "*":
            raise ConfigurationError(f"route pattern must start with '/', got {pattern!r}")
        policy = self._build(f"{method.upper()} {pattern}", config)
        self._routes.append((method.upper(), pattern, policy))
        self._cache.clear()
        self._targets.clear()
        return policy

    def policy(self, method: str, path: str) -> RoutePolicy:
        """The policy for a request (cached per method and path)."""
        key = (method, path)
        found = self._cache.get(key)
        if found is not None:
            return found
        found = self.default_policy
        if self._routes:
            bare = path.split("?", 1)[0]
            if "://" in bare:
                bare = urlsplit(bare).path or "/"
            for route_method, pattern, policy in self._routes:
                if route_method in ("*", method) and fnmatch.fnmatchcase(bare, pattern):
                    found = policy
                    break
        if len(self._cache) >= 4096:
            self._cache.clear()
        self._cache[key] = found
        return found

    def target(
        self, method: str, path: str, params: QueryParams | None
    ) -> tuple[RoutePolicy, str, str]:
        """The route policy, the absolute URL and its redacted form (for logs and errors).

        Cached per method and path when there are no query parameters.
        """
        if not params:
            found = self._targets.get((method, path))
            if found is not None:
                return found
        url = self.url(path, params)
        found = (self.policy(method, path), url, redact_url(url))
        if not params:
            if len(self._targets) >= 4096:
                self._targets.clear()
            self._targets[(method, path)] = found
        return found

    def url(self, path: str, params: QueryParams | None) -> str:
        """The absolute URL for `path` (relative to base_url unless absolute) and `params`."""
        if path.startswith(("http://", "https://")):
            url = path
        elif not self.base_url:
            raise ConfigurationError(f"relative path {path!r} needs a base_url on the client")
        elif path.startswith("/"):
            url = self.base_url + path
        else:
            url = f"{self.base_url}/{path}"
        if params:
            return url + ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        return url

    def prepare(
        self,
        method: str,
        policy: RoutePolicy,
        *,
        json: Any,
        content: bytes | str | None,
        headers: Mapping[str, str] | None,
        idempotency_key: str | None,
        has_json: bool,
    ) -> tuple[dict[str, str], bytes | None, str | None]:
        """Headers, body bytes and the idempotency key (given, or generated once per call)."""
        merged = dict(self.headers)
        names = dict(self._header_names)
        key = idempotency_key
        if headers:
            for name, value in headers.items():
                if name.lower() == "idempotency-key":
                    if key is None:  # idempotency_key= wins over the header
                        key = value
                else:
                    _put_header(merged, names, name, value)
        body: bytes | None
        if has_json:
            if content is not None:
                raise ConfigurationError("pass either json= or content=, not both")
            body = _json.dumps(json, separators=(",", ":")).encode()
            _put_header(merged, names, "Content-Type", "application/json")
        elif isinstance(content, str):
            body = content.encode()
        else:
            body = content
        if key is None and method in UNSAFE_METHODS:
            if policy.idempotency == "auto":
                key = uuid.uuid4().hex
            elif policy.idempotency == "required":
                raise ConfigurationError(
                    f"{method} on route {policy.pattern!r} requires an idempotency_key "
                    "(for example f'{order_id}-charge')"
                )
        if key is not None:
            _put_header(merged, names, "Idempotency-Key", key)
        return merged, body, key


def _put_header(headers: dict[str, str], names: dict[str, str], name: str, value: str) -> None:
    """Set header `name`, replacing one of the same name in any case.

    `names` maps each lower-case name in `headers` to its spelling there, and is kept up to date.
    """
    lower = name.lower()
    old = names.get(lower)
    if old is not None and old != name:
        del headers[old]
    headers[name] = value
    names[lower] = name
