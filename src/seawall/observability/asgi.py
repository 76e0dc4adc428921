"""The ASGI type aliases, and the middleware that puts request id and tenant on every log line.

`RequestContextMiddleware` binds `request_id` (the caller's `X-Request-Id` when it is sane, else a
new one) and `tenant` (the `X-Tenant-Code` header, lower-cased, when sane) for one HTTP request, so
every line logged while it runs carries them; the request id is echoed in the answer's
`X-Request-Id`. It is pure ASGI and imports nothing but the standard library.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from seawall.observability.logging import bind_context, reset_context

__all__ = [
    "REQUEST_ID_HEADER",
    "TENANT_HEADER",
    "ASGIApp",
    "Message",
    "Receive",
    "RequestContextMiddleware",
    "Scope",
    "Send",
    "context_value",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = b"x-request-id"
TENANT_HEADER = b"x-tenant-code"
MAX_CONTEXT_CHARS = 128
"""Longer header values are not trusted as context (a fresh request id is used instead)."""


def context_value(raw: bytes | None) -> str | None:
    """A header value fit for a log field: 1 to 128 printable ASCII characters, else None."""
    if not raw or len(raw) > MAX_CONTEXT_CHARS:
        return None
    if any(byte < 0x21 or byte > 0x7E for byte in raw):
        return None
    return raw.decode("ascii")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value)
    return None


class RequestContextMiddleware:
    """Bind `request_id` and `tenant` for each HTTP request; echo the id in `X-Request-Id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one request inside its log context."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = context_value(_header(scope, REQUEST_ID_HEADER)) or uuid.uuid4().hex
        tenant = context_value(_header(scope, TENANT_HEADER))
        echoed = request_id.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers") or () if k != REQUEST_ID_HEADER]
                message["headers"] = [*kept, (REQUEST_ID_HEADER, echoed)]
            await send(message)

        token = bind_context(request_id=request_id, tenant=tenant.lower() if tenant else None)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            reset_context(token)
