"""The fake provider's JSON on the wire: compact bodies, gateway-style errors, answers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

__all__ = ["JSON", "answer", "error_body", "json_bytes"]

JSON = "application/json"


def json_bytes(data: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":")).encode()


def error_body(status: int, kind: str, message: str) -> tuple[int, bytes]:
    """A gateway-style error body."""
    return status, json_bytes({"error": {"type": kind, "message": message}})


def answer(status: int, payload: bytes, replayed: bool) -> web.Response:
    """A JSON answer; replays of a stored idempotent answer say so in a header."""
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return web.Response(status=status, body=payload, content_type=JSON, headers=headers)
