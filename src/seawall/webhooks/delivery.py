"""One delivery's rules, whatever carries it: verify, find id and type, or refuse with a reason.

`check_delivery` is shared by the ASGI receiver (`seawall.webhooks.receiver`, whose docstring
lists the answers) and the Lambda receiver (`seawall.aws.receiver`): both refuse the same
requests with the same statuses and reasons, and store the same InboxEntry for the rest.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from seawall.store.text import storable_text
from seawall.webhooks.endpoint import WebhookEndpoint
from seawall.webhooks.events import UNHANDLED_TYPE
from seawall.webhooks.inbox import InboxEntry
from seawall.webhooks.schemes import VerificationError, VerifiedRequest
from seawall.webhooks.shape import derived_id, read_document

__all__ = [
    "MAX_ID_CHARS",
    "Rejected",
    "check_delivery",
    "check_header_bytes",
    "check_method",
    "too_large",
]

log = logging.getLogger("seawall.webhooks")

MAX_ID_CHARS = 256
"""The longest event id or type stored."""
_MAX_ID_CHARS = MAX_ID_CHARS
_compact_json = json.JSONEncoder(separators=(",", ":")).encode
"""`json.dumps(value, separators=(",", ":"))` without building an encoder per call."""


class Rejected(Exception):
    """A request refused with `status`, a machine-readable `reason` and a human `message`."""

    signature = False
    """True for a failed signature check (a rotated secret may explain it)."""

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


def check_delivery(
    ep: WebhookEndpoint, body: bytes, headers: dict[str, str], now: float
) -> InboxEntry:
    """Verify one delivery and find its id and type: the InboxEntry to store, or Rejected.

    The rules every transport shares (the ASGI receiver and the Lambda receiver): see the
    module docstring. `headers` are lower-cased names; `now` is the epoch time of receipt.
    """
    try:
        verified = ep.scheme.verify(body, headers, ep.secrets, now=now, tolerance_s=ep.tolerance_s)
    except VerificationError as exc:
        if not body:
            raise _empty() from None
        refused = Rejected(
            ep.invalid_signature_status, exc.reason.value, "Invalid webhook signature", exc.message
        )
        refused.signature = True
        raise refused from None
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
        _checkstorable_text(event_id, "invalid_event_id", "event id")
        _checkstorable_text(event_type, "invalid_event_type", "event type")
    elif (
        event_id is None
        or event_type is None
        or not storable_text(event_id)
        or not storable_text(event_type)
    ):
        event_id, event_type = _any_shape(ep, body, headers, verified)
    redact = ep.redact
    # Usually nothing is redacted: then the headers are stored as they are, without a copy.
    kept = headers if redact.isdisjoint(headers) else _without(headers, redact)
    return InboxEntry(ep.source, event_id, event_type, body, _compact_json(kept), now)


def _any_shape(
    ep: WebhookEndpoint, body: bytes, headers: dict[str, str], verified: VerifiedRequest
) -> tuple[str, str]:
    """Id and type of an authentic body of any shape; never refuses (see the docstring)."""
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
    return header if header and storable_text(header) else None


def _usable(text: str | None) -> str | None:
    """`text` when it can be an id or a type (1 to 256 storable characters), else None."""
    if text is None or not text or len(text) > _MAX_ID_CHARS or not storable_text(text):
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


def _without(headers: dict[str, str], names: frozenset[str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in names}


def _empty() -> Rejected:
    return Rejected(400, "empty_body", "The webhook body is empty")


def check_method(method: str) -> None:
    """Refuse (405) every method but POST."""
    if method != "POST":
        raise Rejected(405, "method_not_allowed", "Use POST for webhooks")


def check_header_bytes(size: int, limit: int) -> None:
    """Refuse (431) headers whose names and values add up to more than `limit` bytes."""
    if size > limit:
        raise Rejected(
            431, "headers_too_large", f"The request headers are larger than {limit} bytes"
        )


def too_large(limit: int) -> Rejected:
    """The 413 for a body over `limit` bytes."""
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


def _checkstorable_text(text: str, reason: str, what: str) -> None:
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
