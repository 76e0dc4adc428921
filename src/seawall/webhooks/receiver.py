"""The request path: read the raw body under a size cap, verify, find id and type, store, answer.

Answers (JSON bodies; the first two are the guide's):
- 200 `{"received": true}` once the event and its processing job are committed durably;
  a repeated (source, event id) answers 200 `{"received": true, "duplicate": true}`.
- 400 (or the endpoint's 401) `{"message": "Invalid webhook signature", "reason": ...}` when
  verification fails; `reason` is a FailureReason value (bad_signature, stale_timestamp, ...).
- 400 `{"message": ..., "reason": ...}` for other bad input: empty_body (an empty body
  that is not authentic, as before the signature check; an authentic one is stored, see below),
  invalid_content_length; 413 with reason body_too_large; 431 headers_too_large (total header
  names and values over the endpoint's `max_header_bytes`, 16 KiB by default); 408 body_timeout
  (the body took longer than `body_timeout_s`, 30 s by default, to arrive); 405 for a method
  other than POST. These come before (or are) the signature check and protect the server.
- Never a refusal for the shape of an authentic body (DESIGN guarantee 12): once the signature
  verifies, a body that is not a JSON object (or empty), is a form (see `seawall.webhooks.shape`),
  or has no usable id or type is stored and answered 200 like any other. Its id falls back to
  `sha256:<hex of the raw body>`, its type to `unhandled` (`UNHANDLED_TYPE`); a log line says
  why. (Every authentic empty body of a source has the same derived id: it is stored once and
  later ones answer as duplicates.) An endpoint with `strict=True` refuses those bodies instead,
  with 400 and the reasons empty_body, invalid_json, invalid_utf8, json_too_deep,
  invalid_event_id, missing_event_type and invalid_event_type.
- Ids and types are checked before anything is stored: 1 to 256 characters, no NUL and no lone
  surrogate (text neither engine can hold), so one unstorable event never fails the batch its
  neighbours are written in. A value that fails the check is not used: the derived id or the
  `unhandled` type stands in (strict endpoints refuse it). JSON nested deeper than the parser's
  limit (about 1,000 levels, Python's recursion limit) has no document.
- 503 with `Retry-After` when the store cannot commit: the provider delivers again later.

Event id: the scheme's signed id header (Standard Webhooks, GitHub, Shopify) when it has one, else
the document's `event_id_field` (a string or integer), else `sha256:<hex of the raw body>` so
that byte-identical redeliveries still deduplicate. Event type: the document's first present
`event_type_field` (covered by the signature) is preferred; a scheme's type header is used when it
is signed, or when the body has no usable type (GitHub's `X-GitHub-Event` and Shopify's topic
header are not signed; trust them only as far as the id and signature of the body they came with).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter

from seawall.clock import Clock
from seawall.observability.asgi import (
    REQUEST_ID_HEADER,
    TENANT_HEADER,
    Receive,
    Scope,
    Send,
    context_value,
)
from seawall.webhooks.delivery import (
    Rejected,
    check_delivery,
    check_header_bytes,
    check_method,
    too_large,
)
from seawall.webhooks.endpoint import WebhookEndpoint
from seawall.webhooks.ingest import Ingestor

__all__ = ["Receiver", "Rejected", "WebhookStats"]

log = logging.getLogger("seawall.webhooks")


_JSON_HEADERS = [(b"content-type", b"application/json")]
_RECEIVED = b'{"received":true}'
_DUPLICATE = b'{"received":true,"duplicate":true}'
_RETRY_AFTER_S = 5


class WebhookStats:
    """In-memory counters for metrics: accepted, duplicates and rejections per source and reason."""

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.rejected: Counter[tuple[str, str]] = Counter()
        self.store_errors: Counter[str] = Counter()


class Receiver:
    """The ASGI app of one endpoint (mount it at the endpoint's path, POST only)."""

    def __init__(
        self, endpoint: WebhookEndpoint, ingestor: Ingestor, stats: WebhookStats, clock: Clock
    ) -> None:
        self.endpoint = endpoint
        self.ingestor = ingestor
        self.stats = stats
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request."""
        source = self.endpoint.source
        try:
            check_method(scope["method"])
            headers = _headers(scope, self.endpoint.max_header_bytes)
            try:
                async with asyncio.timeout(self.endpoint.body_timeout_s):
                    body = await self._read_body(headers, receive)
            except TimeoutError:
                raise Rejected(
                    408,
                    "body_timeout",
                    f"The body did not arrive within {self.endpoint.body_timeout_s:g} s",
                ) from None
            entry = check_delivery(self.endpoint, body, headers, self.clock.time())
        except Rejected as rejected:
            self.stats.rejected[(source, rejected.reason)] += 1
            log.warning(
                "webhook rejected: source=%s reason=%s status=%d %s",
                source,
                rejected.reason,
                rejected.status,
                rejected.detail or rejected.message,
                extra=_fields(scope, source),
            )
            extra = [(b"allow", b"POST")] if rejected.status == 405 else []
            await _answer(send, rejected.status, rejected.body(), extra)
            return
        try:
            new = await self.ingestor.submit(entry, self.endpoint.max_receives)
        except Exception as exc:
            self.stats.store_errors[source] += 1
            log.error(
                "webhook not stored (answering 503): source=%s event=%s: %s",
                source,
                entry.event_id,
                exc,
                extra={**_fields(scope, source), "event_id": entry.event_id},
            )
            body = json.dumps(
                {
                    "message": "Webhook store unavailable; deliver again later",
                    "reason": "store_unavailable",
                }
            ).encode()
            retry = [(b"retry-after", str(_RETRY_AFTER_S).encode())]
            await _answer(send, 503, body, retry)
            return
        if new:
            self.stats.accepted[source] += 1
            await _answer(send, 200, _RECEIVED)
        else:
            self.stats.duplicates[source] += 1
            await _answer(send, 200, _DUPLICATE)

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        limit = self.endpoint.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Rejected(400, "invalid_content_length", "Content-Length must be a number")
            if int(declared) > limit:
                raise too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Rejected(400, "client_disconnected", "The client went away mid-body")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _fields(scope: Scope, source: str) -> dict[str, str]:
    """The log fields of a request the receiver answers itself (the service's request-context
    middleware does not run on this direct path): source, request id and tenant when sent."""
    fields = {"source": source}
    for key, value in scope.get("headers") or ():
        if key in (REQUEST_ID_HEADER, TENANT_HEADER):
            found = context_value(bytes(value))
            if found is not None:
                fields["request_id" if key == REQUEST_ID_HEADER else "tenant"] = (
                    found if key == REQUEST_ID_HEADER else found.lower()
                )
    return fields


def _headers(scope: Scope, limit: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    raw_headers = scope["headers"]
    check_header_bytes(sum(len(n) + len(v) for n, v in raw_headers), limit)
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]


_PREBUILT = {_RECEIVED: _json_headers(_RECEIVED), _DUPLICATE: _json_headers(_DUPLICATE)}
"""Response headers of the two constant 200 bodies, built once and copied per response (a
middleware may append to a response's header list in place)."""


async def _answer(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    if extra:
        headers = [*_json_headers(body), *extra]
    else:
        prebuilt = _PREBUILT.get(body)
        headers = prebuilt.copy() if prebuilt is not None else _json_headers(body)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
