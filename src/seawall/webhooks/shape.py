"""The document of a verified body (its JSON, or its form fields) and the id derived from its bytes.

One home for how a stored body is read, used by the receiver (to find id and type) and by the
worker (the `payload` handlers get), so both always see the same document:

- A body that parses as JSON is its JSON value (an object, but also an array, a string, ...).
- Otherwise a body sent as `application/x-www-form-urlencoded` (Slack slash commands and
  interactivity, GitHub's form mode, Twilio) is read as form fields, `&`-separated, `+` and
  percent escapes decoded as strict UTF-8. A form whose `payload` field holds a JSON object
  (Slack interactivity, GitHub) has that object as its document; any other form has a dict of
  its fields (a field sent once maps to its text, a repeated one to the list of its texts).
- Anything else (invalid JSON or UTF-8, JSON nested past the parser's limit, a form with bad
  escapes or more than `MAX_FORM_FIELDS` fields) has no document: None. Handlers still get the
  verified raw bytes in `event.body`.

A body with no usable id gets `derived_id(body)`: `sha256:` and the hex SHA-256 of its bytes, so
byte-identical redeliveries still deduplicate.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["FORM_MEDIA_TYPE", "MAX_FORM_FIELDS", "derived_id", "is_form", "read_document"]

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 1000
"""More fields than this and a form body has no document (its raw bytes are still stored)."""


def derived_id(body: bytes) -> str:
    """The event id of a body that carries none: `sha256:<hex of the raw bytes>`."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def is_form(content_type: str | None) -> bool:
    """True when a Content-Type header names a URL-encoded form (parameters ignored)."""
    if not content_type:
        return False
    return content_type.partition(";")[0].strip().lower() == FORM_MEDIA_TYPE


def read_document(body: bytes, content_type: str | None) -> Any:
    """The body's document (see the module docstring): JSON value, form fields, or None."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # invalid UTF-8 and invalid JSON are ValueErrors
        pass
    if is_form(content_type):
        return read_form(body)
    return None


def read_form(body: bytes) -> dict[str, Any] | None:
    """A form body's document: its `payload` JSON object, else its fields; None if undecodable."""
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError, or too many fields
        return None
    fields: dict[str, Any] = {}
    for name, value in pairs:
        held = fields.get(name)
        if held is None:
            fields[name] = value
        elif isinstance(held, list):
            held.append(value)
        else:
            fields[name] = [held, value]
    payload = fields.get("payload")
    if isinstance(payload, str):
        try:
            inner = json.loads(payload)
        except (ValueError, RecursionError):
            inner = None
        if isinstance(inner, dict):
            return inner
    return fields
