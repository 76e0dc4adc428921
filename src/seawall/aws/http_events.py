"""HTTP requests as Lambda receives them: API Gateway REST (v1), HTTP API (v2), Function URLs.

`request_of(event)` gives the method, path, lower-cased headers and the raw body bytes (decoded
from base64 when the event says `isBase64Encoded`); `response(status, body)` builds the answer
all three accept. A v1 or v2 event's text body arrives as a str that API Gateway decoded from
UTF-8; it is encoded back to the same bytes. Binary bodies need `isBase64Encoded` (HTTP APIs and
Function URLs do this by themselves; a REST API needs binary media types configured).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BadEventError", "LambdaRequest", "request_of", "response"]


class BadEventError(ValueError):
    """The Lambda event is not an HTTP event of a known shape."""


@dataclass(frozen=True, slots=True)
class LambdaRequest:
    """One HTTP request from a Lambda event."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    request_id: str
    source_ip: str
    path_parameters: dict[str, str]


def _headers(raw: Mapping[str, Any] | None, multi: Mapping[str, Any] | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if multi:
        for name, values in multi.items():
            if values:
                headers[str(name).lower()] = ",".join(str(v) for v in values)
    for name, value in (raw or {}).items():
        headers.setdefault(str(name).lower(), str(value))
    return headers


def _body(event: Mapping[str, Any]) -> bytes:
    raw = event.get("body")
    if raw is None:
        return b""
    if not isinstance(raw, str):
        raise BadEventError("the event's body is not a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadEventError(
                "the event says isBase64Encoded but its body is not base64"
            ) from None
    try:
        return raw.encode("utf-8")
    except UnicodeEncodeError:
        raise BadEventError("the event's text body holds a lone surrogate") from None


def request_of(event: Mapping[str, Any]) -> LambdaRequest:
    """The HTTP request in an API Gateway v1/v2 or Function URL event (BadEventError if none)."""
    if not isinstance(event, Mapping):
        raise BadEventError("the Lambda event is not a JSON object")
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0" or "http" in context:  # HTTP API v2, Function URL
        http = context.get("http") or {}
        method, path = http.get("method"), event.get("rawPath") or http.get("path")
        headers = _headers(event.get("headers"), None)
        if event.get("cookies") and "cookie" not in headers:
            headers["cookie"] = "; ".join(event["cookies"])
        ip = http.get("sourceIp", "")
    elif "httpMethod" in event:  # REST API v1
        method, path = event.get("httpMethod"), event.get("path")
        headers = _headers(event.get("headers"), event.get("multiValueHeaders"))
        ip = (context.get("identity") or {}).get("sourceIp", "")
    else:
        raise BadEventError("not an API Gateway or Function URL event (no method)")
    if not isinstance(method, str) or not isinstance(path, str):
        raise BadEventError("the event has no method or path")
    return LambdaRequest(
        method=method.upper(),
        path=path,
        headers=headers,
        body=_body(event),
        request_id=str(context.get("requestId") or ""),
        source_ip=str(ip or ""),
        path_parameters={str(k): str(v) for k, v in (event.get("pathParameters") or {}).items()},
    )


def response(
    status: int, body: bytes | str | Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A Lambda HTTP answer (v1, v2 and Function URLs accept this shape); a mapping is JSON."""
    out_headers = dict(headers or {})
    if isinstance(body, Mapping):
        text = json.dumps(body, separators=(",", ":"))
        out_headers.setdefault("content-type", "application/json")
    elif isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return {
                "statusCode": status,
                "headers": out_headers,
                "body": base64.b64encode(body).decode("ascii"),
                "isBase64Encoded": True,
            }
    else:
        text = body
    return {"statusCode": status, "headers": out_headers, "body": text, "isBase64Encoded": False}
