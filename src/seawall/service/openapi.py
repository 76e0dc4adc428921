"""`/openapi.json`: the service describes its own endpoints (OpenAPI 3.1).

Each webhook endpoint is a POST with its scheme's headers (the names its signer writes: what a
provider must send) and the receiver's answers; then `/healthz`, `/readyz` and `/metrics`. The
dashboard is left out: it is for people, behind a login.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seawall._version import __version__
from seawall.webhooks import WebhookEndpoint
from seawall.webhooks.shape import FORM_MEDIA_TYPE

__all__ = ["openapi_document", "openapi_route"]

# Signing a probe body with a made-up secret shows which headers a scheme writes; the second form
# is for schemes whose secrets are base64 (Standard Webhooks).
_PROBE_SECRETS = (
    "openapi-probe-secret-0123456789abcdef",
    "whsec_b3BlbmFwaS1wcm9iZS1zZWNyZXQtMDEyMw==",
)

_RECEIVED = {
    "type": "object",
    "properties": {"received": {"const": True}, "duplicate": {"const": True}},
    "required": ["received"],
}
_REFUSED = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "reason": {"type": "string"}},
    "required": ["message"],
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """One JSON response object."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def scheme_headers(endpoint: WebhookEndpoint) -> list[str]:
    """The header names the endpoint's scheme signs with (what a provider sends)."""
    for secret in _PROBE_SECRETS:
        try:
            signed = endpoint.scheme.sign(b"{}", secret, event_id="evt_probe", event_type="probe")
        except ValueError:
            continue
        return sorted({name.lower() for name in signed})
    return []


def _webhook_operation(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The POST operation of one webhook endpoint."""
    refused = _json(_REFUSED, "refused, with the reason (nothing was stored)")
    responses: dict[str, Any] = {
        "200": _json(_RECEIVED, "stored durably (duplicate: this event id was seen before)"),
        "400": refused,
        "405": refused,
        "408": refused,
        "413": refused,
        "431": refused,
        "503": _json(_REFUSED, "the store cannot commit now; deliver again later"),
    }
    if endpoint.invalid_signature_status != 400:
        responses[str(endpoint.invalid_signature_status)] = refused
    content: dict[str, Any] = {"application/json": {"schema": {}}}
    if not endpoint.strict:  # any authentic body is stored; forms are read as fields
        content[FORM_MEDIA_TYPE] = {"schema": {}}
    return {
        "operationId": f"webhook_{endpoint.source}",
        "summary": f"Receive {endpoint.source} webhooks ({endpoint.scheme.name})",
        "parameters": [
            {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
            for name in scheme_headers(endpoint)
        ],
        "requestBody": {
            "required": True,
            "content": content,
        },
        "responses": responses,
    }


def openapi_document(endpoints: list[WebhookEndpoint], *, title: str = "seawall") -> dict[str, Any]:
    """The OpenAPI 3.1 document for `endpoints` and the probe routes."""
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    paths: dict[str, Any] = {e.path: {"post": _webhook_operation(e)} for e in endpoints}
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "responses": {"200": _json(status, "the process answers")},
        }
    }
    paths["/readyz"] = {
        "get": {
            "operationId": "readyz",
            "responses": {
                "200": _json(status, "the database answers and its schema is current"),
                "503": _json(status, "not ready, with the reason"),
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "responses": {
                "200": {
                    "description": "Prometheus metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__},
        "paths": paths,
    }


def openapi_route(endpoints: list[WebhookEndpoint]) -> Route:
    """`GET /openapi.json` serving the document (built once)."""
    document = openapi_document(endpoints)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    return Route("/openapi.json", openapi, methods=["GET"])
