"""API Gateway for `seawall demo --store aws`: each HTTP request as an HTTP API event to a handler.

The fake provider's webhook sender speaks HTTP; the receiver on AWS is a Lambda handler. This
Starlette app stands where API Gateway (HTTP API, payload 2.0) stands in a deployment: it turns
each request into the event document, with the raw body base64-encoded as API Gateway does for
binary-safe payloads, invokes the handler off the event loop, and answers with its response.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["http_api_event", "lambda_http_app"]

LambdaHttpHandler = Callable[[dict[str, Any], Any], Mapping[str, Any]]


def http_api_event(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The HTTP API (payload 2.0) event API Gateway sends for one request."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip},
            "requestId": uuid.uuid4().hex,
            "stage": "$default",
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


def lambda_http_app(handler: LambdaHttpHandler) -> Starlette:
    """A Starlette app that serves every path and method through `handler`."""

    async def invoke(request: Request) -> Response:
        event = http_api_event(
            request.method,
            request.url.path,
            request.url.query,
            dict(request.headers),
            await request.body(),
            request.client.host if request.client else "",
        )
        answer = await asyncio.to_thread(handler, event, None)
        raw = str(answer.get("body") or "")
        content = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        return Response(
            content,
            status_code=int(answer["statusCode"]),
            headers=dict(answer.get("headers") or {}),
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", invoke, methods=methods)])
