"""Redaction of secrets from URLs, headers and free text before anything is logged or raised."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "SECRET_HEADER_NAMES",
    "SECRET_QUERY_NAMES",
    "is_secret_name",
    "redact_headers",
    "redact_text",
    "redact_url",
]

REDACTED = "***"

SECRET_HEADER_NAMES = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
    }
)
"""Header names (lower case) whose values are always hidden."""

SECRET_QUERY_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "signature",
        "sig",
        "code",
    }
)
"""Query parameter names (lower case) whose values are always hidden."""

_SECRET_WORDS = ("token", "secret", "password", "passwd", "api_key", "apikey", "api-key", "auth")


def is_secret_name(name: str) -> bool:
    """True when a header or parameter name looks like it carries a credential."""
    lowered = name.lower()
    if lowered in SECRET_HEADER_NAMES or lowered in SECRET_QUERY_NAMES:
        return True
    return any(word in lowered for word in _SECRET_WORDS)


def redact_url(url: str) -> str:
    """The URL with user info and secret-looking query values replaced by `***`."""
    if "?" not in url and "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(
    headers: Mapping[str, str], extra_secret_names: Iterable[str] = ()
) -> dict[str, str]:
    """A copy of `headers` with credential values replaced by `***`."""
    extra = {name.lower() for name in extra_secret_names}
    return {
        name: (REDACTED if is_secret_name(name) or name.lower() in extra else value)
        for name, value in headers.items()
    }


_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_BEARER_IN_TEXT = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text (an error message) with URLs redacted and the given secret values removed."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = _BEARER_IN_TEXT.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
