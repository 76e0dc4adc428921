"""The dashboard's login form, login and logout."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from seawall.dashboard import html as h
from seawall.dashboard.auth import LOGIN_COOKIE, SESSION_COOKIE, Session, same_text
from seawall.dashboard.gate import Endpoint, Gate, client_of
from seawall.ops.operator import Operator

__all__ = ["login_endpoints", "logout"]


def login_endpoints(gate: Gate, max_age_s: float) -> tuple[Endpoint, Endpoint]:
    """The login form (GET) and the login itself (POST), issuing sessions of `max_age_s`."""
    signer, limiter = gate.signer, gate.limiter

    async def login_form(request: Request) -> Response:
        nonce = secrets.token_urlsafe(24)
        response = HTMLResponse(h.login_page(login_csrf=nonce))
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            path="/dashboard",
            secure=request.url.scheme == "https",
        )
        return response

    async def login(request: Request) -> Response:
        form = await request.form()
        nonce = request.cookies.get(LOGIN_COOKIE)
        presented = form.get("csrf")
        if not nonce or not isinstance(presented, str) or not same_text(nonce, presented):
            return HTMLResponse(
                h.login_page(login_csrf="", error="The form expired; reload and log in again."),
                status_code=403,
            )
        candidate = form.get("token")
        if not isinstance(candidate, str) or not signer.token_matches(candidate):
            limiter.failed(client_of(request))
            fresh = secrets.token_urlsafe(24)
            response: Response = HTMLResponse(
                h.login_page(login_csrf=fresh, error="Wrong token."), status_code=401
            )
            response.set_cookie(
                LOGIN_COOKIE, fresh, httponly=True, samesite="strict", path="/dashboard"
            )
            return response
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            signer.issue(),
            max_age=int(max_age_s),
            httponly=True,
            samesite="strict",
            path="/dashboard",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/dashboard")
        limiter.succeeded(client_of(request))
        return response

    return login_form, login


async def logout(request: Request, session: Session, op: Operator) -> Response:
    """End the session: drop its cookie and go to the login form."""

    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response
