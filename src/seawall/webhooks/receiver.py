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
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from seawall.clock import Clock
from seawall.webhooks.endpoint import WebhookEndpoint
from seawall.webhooks.events import UNHANDLED_TYPE
from seawall.webhooks.inbox import InboxEntry
from seawall.webhooks.ingest import Ingestor
from seawall.webhooks.schemes import VerificationError, VerifiedRequest
from seawall.webhooks.shape import derived_id, read_document

__all__ = ["Receiver", "Rejected", "WebhookStats"]

log = logging.getLogger("seawall.webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_RECEIVED = b'{"received":true}'
_DUPLICATE = b'{"received":true,"duplicate":true}'
_MAX_ID_CHARS = 256
_compact_json = json.JSONEncoder(separators=(",", ":")).encode
"""`json.dumps(value, separators=(",", ":"))` without building an encoder per call."""
_RETRY_AFTER_S = 5


class Rejected(Exception):
    """A request refused with `status`, a machine-readable `reason` and a human `message`."""

    def __init__(self, status: int, reason: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.detail = detail

    def body(self) -> bytes:
        """The JSON answer."""
        doc = {"message": self.message, "reason": self.reason}
        if self.detail:
            doc["detail"] = self.detail
        return json.dumps(doc).encode()


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
            if scope["method"] != "POST":
                raise Rejected(405, "method_not_allowed", "Use POST for webhooks")
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
            entry = self._check(body, headers)
        except Rejected as rejected:
            self.stats.rejected[(source, rejected.reason)] += 1
            log.warning(
                "webhook rejected: source=%s reason=%s status=%d %s",
                source,
                rejected.reason,
                rejected.status,
                rejected.detail or rejected.message,
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
                raise _too_large(limit)
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
                    raise _too_large(limit)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _check(self, body: bytes, headers: dict[str, str]) -> InboxEntry:
        ep = self.endpoint
        now = self.clock.time()
        try:
            verified = ep.scheme.verify(
                body, headers, ep.secrets, now=now, tolerance_s=ep.tolerance_s
            )
        except VerificationError as exc:
            if not body:
                raise _empty() from None
            raise Rejected(
                ep.invalid_signature_status,
                exc.reason.value,
                "Invalid webhook signature",
                exc.message,
            ) from None
        event_id = verified.event_id
        event_type = verified.event_type if verified.type_signed else None
        if ep.strict:
            if not body:
                raise _empty()
            if event_id is None or event_type is None:
                doc = _json_object(body)
                if event_id is None:
                    event_id = _body_id(doc, ep.event_id_field, body)
                if event_type is None:
                    event_type = _body_type(doc, ep.type_fields, verified.event_type)
            _check_storable(event_id, "invalid_event_id", "event id")
            _check_storable(event_type, "invalid_event_type", "event type")
        elif (
            event_id is None
            or event_type is None
            or not _storable(event_id)
            or not _storable(event_type)
        ):
            event_id, event_type = self._any_shape(body, headers, verified)
        redact = ep.redact
        # Usually nothing is redacted: then the headers are stored as they are, without a copy.
        kept = headers if redact.isdisjoint(headers) else _without(headers, redact)
        return InboxEntry(ep.source, event_id, event_type, body, _compact_json(kept), now)

    def _any_shape(
        self, body: bytes, headers: dict[str, str], verified: VerifiedRequest
    ) -> tuple[str, str]:
        """Id and type of an authentic body of any shape; never refuses (see the docstring)."""
        ep = self.endpoint
        event_id = _kept(verified.event_id)
        event_type = _kept(verified.event_type) if verified.type_signed else None
        doc = None
        if event_id is None or event_type is None:
            doc = read_document(body, headers.get("content-type"))
        if event_id is None:
            event_id = _doc_id(doc, ep.event_id_field) or derived_id(body)
        if event_type is None:
            event_type = _doc_type(doc, ep.type_fields) or _kept(verified.event_type)
            if event_type is None:
                event_type = UNHANDLED_TYPE
                log.info(
                    "webhook accepted without a type, stored as %r: source=%s event=%s (%s)",
                    UNHANDLED_TYPE,
                    ep.source,
                    event_id,
                    _no_type_reason(doc, ep.type_fields),
                )
        return event_id, event_type


def _kept(header: str | None) -> str | None:
    """A scheme's header id or type, unless neither engine could store it."""
    return header if header and _storable(header) else None


def _usable(text: str | None) -> str | None:
    """`text` when it can be an id or a type (1 to 256 storable characters), else None."""
    if text is None or not text or len(text) > _MAX_ID_CHARS or not _storable(text):
        return None
    return text


def _doc_id(doc: Any, field: str) -> str | None:
    """The document's usable id in `field` (a string or an integer), else None."""
    if not isinstance(doc, dict):
        return None
    value = doc.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return _usable(str(value))


def _doc_type(doc: Any, fields: tuple[str, ...]) -> str | None:
    """The document's first present type field when it is usable text, else None."""
    if not isinstance(doc, dict):
        return None
    for name in fields:
        value = doc.get(name)
        if value is not None:
            return _usable(value) if isinstance(value, str) else None
    return None


def _no_type_reason(doc: Any, fields: tuple[str, ...]) -> str:
    """Why an authentic body has no usable type, for the log line."""
    if doc is None:
        return "the body is neither JSON nor a decodable form"
    if not isinstance(doc, dict):
        return f"the body is a JSON {type(doc).__name__}, not an object"
    names = " or ".join(repr(f) for f in fields)
    if all(doc.get(f) is None for f in fields):
        return f"the body has no {names} field"
    return f"the body's {names} is not 1 to {_MAX_ID_CHARS} storable characters"


def _headers(scope: Scope, limit: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    raw_headers = scope["headers"]
    if sum(len(n) + len(v) for n, v in raw_headers) > limit:
        raise Rejected(
            431, "headers_too_large", f"The request headers are larger than {limit} bytes"
        )
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _without(headers: dict[str, str], names: frozenset[str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in names}


def _empty() -> Rejected:
    return Rejected(400, "empty_body", "The webhook body is empty")


def _too_large(limit: int) -> Rejected:
    return Rejected(413, "body_too_large", f"The webhook body is larger than {limit} bytes")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except RecursionError:
        raise Rejected(
            400,
            "json_too_deep",
            "The webhook body's JSON is nested too deeply (about 1,000 levels)",
        ) from None
    except UnicodeDecodeError:
        raise Rejected(400, "invalid_utf8", "The webhook body is not valid UTF-8") from None
    except ValueError as exc:
        raise Rejected(
            400, "invalid_json", "The webhook body is not valid JSON", str(exc)
        ) from None
    if not isinstance(doc, dict):
        raise Rejected(400, "invalid_json", "The webhook body must be a JSON object")
    return doc


def _body_id(doc: dict[str, Any], field: str, body: bytes) -> str:
    value = doc.get(field)
    if value is None and field not in doc:
        return derived_id(body)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Rejected(400, "invalid_event_id", f"The body's {field!r} must be a string or integer")
    text = str(value)
    if not text or len(text) > _MAX_ID_CHARS:
        raise Rejected(
            400, "invalid_event_id", f"The body's {field!r} must be 1 to {_MAX_ID_CHARS} characters"
        )
    return text


def _storable(text: str) -> bool:
    """True when both engines can store `text` (no NUL, no lone surrogate)."""
    if "\x00" in text:
        return False
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _check_storable(text: str, reason: str, what: str) -> None:
    """Refuse text neither engine can store (NUL, lone surrogates) before it joins a batch."""
    if "\x00" in text:
        raise Rejected(400, reason, f"The {what} contains a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise Rejected(400, reason, f"The {what} contains a lone surrogate") from None


def _body_type(doc: dict[str, Any], fields: tuple[str, ...], header_type: str | None) -> str:
    field = fields[0]
    value = None
    for name in fields:
        value = doc.get(name)
        if value is not None:
            field = name
            break
    if value is None:
        if header_type:
            return header_type
        names = " or ".join(repr(f) for f in fields)
        raise Rejected(400, "missing_event_type", f"The body has no {names} field")
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_CHARS:
        raise Rejected(
            400,
            "invalid_event_type",
            f"The body's {field!r} must be a string of 1 to {_MAX_ID_CHARS} characters",
        )
    return value


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
