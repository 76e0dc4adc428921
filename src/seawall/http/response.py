"""seawall's small immutable HTTP response."""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from typing import Any

__all__ = ["Response"]


def _charset(content_type: str | None) -> str:
    """The charset named in a Content-Type header, or utf-8."""
    if content_type:
        for part in content_type.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                return value.strip('"')
    return "utf-8"


class Response:
    """The final answer of a logical call: status, headers, body bytes, timing and attempts.

    Read-only: every public attribute is a property without a setter. (Plain slots behind
    properties, because a frozen dataclass costs several microseconds per call on the hot path.)
    """

    __slots__ = ("_attempts", "_content", "_elapsed", "_headers", "_method", "_status", "_url")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str],
        content: bytes,
        elapsed: float,
        attempts: int,
        method: str = "GET",
        url: str = "",
    ) -> None:
        self._status = status_code
        self._headers = headers
        self._content = content
        self._elapsed = elapsed
        self._attempts = attempts
        self._method = method
        self._url = url

    @property
    def status_code(self) -> int:
        """The HTTP status of the final attempt."""
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers (case-insensitive lookup with the default transports)."""
        return self._headers

    @property
    def content(self) -> bytes:
        """The complete body."""
        return self._content

    @property
    def elapsed(self) -> float:
        """Seconds the whole logical call took, retries and waits included."""
        return self._elapsed

    @property
    def attempts(self) -> int:
        """How many attempts the call made."""
        return self._attempts

    @property
    def method(self) -> str:
        """The request method."""
        return self._method

    @property
    def url(self) -> str:
        """The request URL with secrets redacted."""
        return self._url

    @property
    def ok(self) -> bool:
        """True for 2xx and 3xx statuses."""
        return self._status < 400

    @property
    def text(self) -> str:
        """The body decoded with the charset from Content-Type (utf-8 by default)."""
        try:
            return self._content.decode(_charset(self._headers.get("Content-Type")), "replace")
        except LookupError:
            return self._content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises json.JSONDecodeError on invalid JSON)."""
        return _json.loads(self._content)

    def __repr__(self) -> str:
        return f"<Response {self._method} {self._url} -> {self._status} ({self._attempts} att.)>"
