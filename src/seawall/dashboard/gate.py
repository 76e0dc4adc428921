"""The dashboard's gate: who may see a page or press a button, and how refusals look.

Every page needs the admin token (bearer header or session cookie); every POST needs the
session's CSRF token (see `auth`). Failed logins are limited per client address; every answer
carries SECURITY_HEADERS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from seawall.dashboard import html as h
from seawall.dashboard.auth import SESSION_COOKIE, LoginThrottle, Session, SessionSigner
from seawall.ops.breakers import BreakerRegistry
from seawall.ops.errors import NotFoundError, OperatorError
from seawall.ops.operator import Operator

__all__ = [
    "MAX_OFFSET",
    "SECURITY_HEADERS",
    "Endpoint",
    "Gate",
    "Page",
    "back",
    "client_of",
    "local_path",
    "query_offset",
]

Page = Callable[[Request, Session, Operator], Awaitable[Response]]
"""A page or action: the request, the operator's session and an Operator over the store."""
Endpoint = Callable[[Request], Awaitable[Response]]

MAX_OFFSET = 10_000_000
"""The largest `?offset=` a listing accepts; a larger one is a 400, not a database error."""

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}
"""Sent with every dashboard answer: no framing (the buttons act), no sniffing, no caching of
pages that show event bodies and headers."""


def query_offset(value: str | None, default: int) -> int:
    """A non-negative integer query value; OperatorError (400) when it is not one."""
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 8) or int(value) > MAX_OFFSET:
        raise OperatorError(f"offset must be a whole number from 0 to {MAX_OFFSET}")
    return int(value)


def local_path(referer: str | None) -> str:
    """The dashboard path a Referer names, or /dashboard: never another site."""
    if referer:
        parts = urlsplit(referer)
        path = parts.path
        if (path == "/dashboard" or path.startswith("/dashboard/")) and "\\" not in path:
            return path + (f"?{parts.query}" if parts.query else "")
    return "/dashboard"


def _harden(response: Response) -> Response:
    """Add SECURITY_HEADERS to a dashboard answer."""
    response.headers.update(SECURITY_HEADERS)
    return response


def client_of(request: Request) -> str:
    """The client address failed logins are counted against."""
    return request.client.host if request.client is not None else "unknown"


def _throttled(retry_after: float) -> Response:
    return JSONResponse(
        {"message": "too many failed logins from this address; wait and try again"},
        status_code=429,
        headers={"Retry-After": str(int(retry_after + 0.999))},
    )


def back(path: str, flash: str) -> RedirectResponse:
    """A 303 back to the dashboard `path`, carrying a one-line `flash` message."""
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}flash={h.url('x', flash=flash).split('flash=')[1]}", 303)


def _operator(request: Request, registry: BreakerRegistry) -> Operator:
    """The app's own Operator (`state.operator`, e.g. over the AWS stores), else one over the
    service's SQL store and webhooks."""
    state = request.app.state
    given = getattr(state, "operator", None)
    if isinstance(given, Operator):
        return given
    webhooks = getattr(state, "webhooks", None)
    replay = getattr(webhooks, "replay", None)
    queue = getattr(webhooks, "queue", None)
    return Operator.over_sql(state.store, registry=registry, replay=replay, queue=queue)


class Gate:
    """Wraps pages and actions with authentication, CSRF checks, throttling and error pages."""

    def __init__(
        self, signer: SessionSigner, limiter: LoginThrottle, registry: BreakerRegistry
    ) -> None:
        self.signer = signer
        self.limiter = limiter
        self.registry = registry

    def authenticate(self, request: Request) -> Session | None:
        """The session a bearer token or session cookie proves, or None."""
        return self.signer.bearer(request.headers.get("authorization")) or self.signer.session(
            request.cookies.get(SESSION_COOKIE)
        )

    def guarded(self, fn: Endpoint) -> Endpoint:
        """`fn` behind the failed-login throttle, its answers hardened."""

        async def endpoint(request: Request) -> Response:
            wait = self.limiter.retry_after(client_of(request))
            if wait > 0:
                return _harden(_throttled(wait))
            return _harden(await fn(request))

        return endpoint

    def refused(self, request: Request, message: str) -> Response:
        """A 401 that counts as a failed login for the client's address."""
        self.limiter.failed(client_of(request))
        return JSONResponse({"message": message}, status_code=401)

    def page(self, fn: Page) -> Endpoint:
        """A GET page: log in first (redirect), operator errors as an HTML 400/404."""

        async def endpoint(request: Request) -> Response:
            session = self.authenticate(request)
            if session is None:
                if "authorization" in request.headers:
                    return self.refused(request, "invalid admin token")
                return RedirectResponse("/dashboard/login", status_code=303)
            try:
                return await fn(request, session, _operator(request, self.registry))
            except OperatorError as exc:
                body = h.layout(
                    "Not possible", f"<p class='err'>{h.e(exc)}</p>", csrf=session.csrf, active=""
                )
                return HTMLResponse(
                    body, status_code=404 if isinstance(exc, NotFoundError) else 400
                )

        return self.guarded(endpoint)

    def action(self, fn: Page) -> Endpoint:
        """A POST action: a session and its CSRF token, operator errors flashed on the way back."""

        async def endpoint(request: Request) -> Response:
            session = self.authenticate(request)
            if session is None:
                if "authorization" in request.headers:
                    return self.refused(request, "invalid admin token")
                return JSONResponse({"message": "log in first"}, status_code=401)
            form = await request.form()
            presented = form.get("csrf") or request.headers.get("x-csrf-token")
            if not self.signer.csrf_ok(session, presented if isinstance(presented, str) else None):
                return HTMLResponse(
                    "<p>Missing or wrong CSRF token: reload the page and try again.</p>",
                    status_code=403,
                )
            request.state.form = form
            try:
                return await fn(request, session, _operator(request, self.registry))
            except OperatorError as exc:
                return back(local_path(request.headers.get("referer")), str(exc))

        return self.guarded(endpoint)
