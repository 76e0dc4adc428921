"""Dashboard authentication: bearer token or a signed session cookie, and CSRF tokens.

The admin token is the only credential. A login form exchanges it for a session cookie
`v1.<issued>.<nonce>.<hmac>` signed with a key derived from the token (changing the token logs
everyone out). Each session has a CSRF token, HMAC(key, "csrf" + nonce), put into every form;
a POST authenticated by the cookie must echo it (form field `csrf` or header `X-CSRF-Token`).
A POST with `Authorization: Bearer` needs no CSRF token: browsers never attach that header on
their own, so a cross-site page cannot forge it. The login form itself uses a double-submit
cookie so it cannot be posted from another site either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoginThrottle", "Session", "SessionSigner", "same_text"]

SESSION_COOKIE = "seawall_session"
LOGIN_COOKIE = "seawall_login"


def same_text(a: str, b: str) -> bool:
    """Constant-time equality of two strings of any characters (non-ASCII, lone surrogates).

    `hmac.compare_digest` refuses non-ASCII `str`; comparing the UTF-8 bytes never raises, so a
    hostile cookie or form field is a mismatch, not a 500.
    """
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


class LoginThrottle:
    """Failed logins per client: after `max_failures` within `window_s`, refuse for the window.

    A client is its address as the server sees it (behind a proxy, configure the proxy's
    forwarded-address handling in uvicorn). Memory is bounded: at most `max_clients` are tracked.
    """

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_s: float = 60.0,
        max_clients: int = 10_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self.now = now
        self._failures: dict[str, list[float]] = {}

    def retry_after(self, client: str) -> float:
        """Seconds until `client` may try again (0 when it may try now)."""
        recent = self._recent(client)
        if len(recent) < self.max_failures:
            return 0.0
        return max(1.0, recent[0] + self.window_s - self.now())

    def failed(self, client: str) -> None:
        """Count one failed login of `client`."""
        if client not in self._failures and len(self._failures) >= self.max_clients:
            self._failures.pop(next(iter(self._failures)))
        self._recent(client).append(self.now())

    def succeeded(self, client: str) -> None:
        """Forget `client`'s failures."""
        self._failures.pop(client, None)

    def _recent(self, client: str) -> list[float]:
        since = self.now() - self.window_s
        kept = [t for t in self._failures.get(client, ()) if t > since]
        self._failures[client] = kept
        return kept


@dataclass(frozen=True, slots=True)
class Session:
    """An authenticated visitor: `via` is "bearer" or "cookie"; `csrf` is the form token."""

    via: str
    csrf: str


class SessionSigner:
    """Signs and checks session cookies and CSRF tokens for one admin token."""

    def __init__(
        self, token: str, *, max_age_s: float = 12 * 3600, now: Callable[[], float] = time.time
    ) -> None:
        if not token:
            raise ValueError("the dashboard needs a non-empty admin token")
        self._token = token.encode()
        self._key = hmac.new(self._token, b"seawall-dashboard-session-v1", hashlib.sha256).digest()
        self.max_age_s = max_age_s
        self.now = now

    def _mac(self, message: str) -> str:
        return hmac.new(
            self._key, message.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()

    def token_matches(self, candidate: str) -> bool:
        """Constant-time check of a presented admin token."""
        return hmac.compare_digest(candidate.encode("utf-8", "surrogatepass"), self._token)

    def issue(self) -> str:
        """A new session cookie value."""
        body = f"v1.{int(self.now())}.{secrets.token_hex(16)}"
        return f"{body}.{self._mac(body)}"

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie proves, or None when absent, forged or expired."""
        if not cookie:
            return None
        parts = cookie.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not (parts[1].isascii() and parts[1].isdigit()):
            return None
        body = ".".join(parts[:3])
        if not same_text(self._mac(body), parts[3]):
            return None
        age = self.now() - int(parts[1])
        if age < -60 or age > self.max_age_s:
            return None
        return Session(via="cookie", csrf=self._mac(f"csrf.{parts[2]}"))

    def bearer(self, authorization: str | None) -> Session | None:
        """The session an `Authorization: Bearer <token>` header proves, or None."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not self.token_matches(value.strip()):
            return None
        return Session(via="bearer", csrf="")

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        """True when a POST may proceed: bearer sessions always, cookie sessions with the token."""
        if session.via == "bearer":
            return True
        return bool(presented) and same_text(session.csrf, presented or "")
