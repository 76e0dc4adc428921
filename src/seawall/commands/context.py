"""Who is calling: `InvokeContext` from an ASGI request, a Lambda event or the framework's raw
`{event, context}` (IInvoke), and `get_user_context`.

JWT claims are decoded WITHOUT verifying the signature. This mirrors the framework, where the
API gateway (a Cognito or JWT authorizer) has already verified the token before the request
reaches the application. Never build an InvokeContext from a request that did not pass such
an authorizer, or verify the token yourself first.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from seawall.commands.errors import InvalidTokenError

__all__ = [
    "HEADER_TENANT_CODE",
    "InvokeContext",
    "UserContext",
    "decode_jwt_claims",
    "get_user_context",
]

HEADER_TENANT_CODE = "x-tenant-code"


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, decoded without verifying its signature (see the module docstring)."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        raise InvalidTokenError(
            "the bearer token is not a JWT (expected three dot-separated parts)"
        )
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment))
    except (binascii.Error, ValueError) as exc:
        raise InvalidTokenError(f"the bearer token's claims cannot be decoded: {exc}") from exc
    if not isinstance(claims, dict):
        raise InvalidTokenError("the bearer token's claims are not a JSON object")
    return claims


def _claims_from_headers(headers: Mapping[str, str]) -> dict[str, Any]:
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return {}
    return decode_jwt_claims(token.strip())


@dataclass(frozen=True, slots=True)
class InvokeContext:
    """The facts of one invocation: headers (lower-case names), source IP, request id, claims."""

    headers: Mapping[str, str] = field(default_factory=dict)
    source_ip: str = ""
    request_id: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_asgi(
        cls, scope: MutableMapping[str, Any], *, trust_forwarded_for: bool = False
    ) -> InvokeContext:
        """Build a context from an ASGI HTTP scope.

        The source IP is the peer address, or the first `X-Forwarded-For` entry when
        `trust_forwarded_for` is set (only behind a proxy that overwrites that header).
        The request id is the framework's off-Lambda `awsRequestId`: `X-Amz-Cf-Id`, else
        `X-Amzn-Trace-Id`, else `X-Request-Id`, else a new UUID.
        """
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", []):
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        client = scope.get("client")
        source_ip = client[0] if client else ""
        forwarded = headers.get("x-forwarded-for")
        if trust_forwarded_for and forwarded:
            source_ip = forwarded.split(",")[0].strip()
        request_id = (
            headers.get("x-amz-cf-id")
            or headers.get("x-amzn-trace-id")
            or headers.get("x-request-id")
            or uuid.uuid4().hex
        )
        return cls(
            headers=headers,
            source_ip=source_ip,
            request_id=request_id,
            claims=_claims_from_headers(headers),
            source=f"{scope.get('method', '')} {scope.get('path', '')}".strip(),
        )

    @classmethod
    def from_request(cls, request: Any, *, trust_forwarded_for: bool = False) -> InvokeContext:
        """Build a context from a Starlette/FastAPI `Request` (anything with an ASGI `.scope`)."""
        return cls.from_asgi(request.scope, trust_forwarded_for=trust_forwarded_for)

    @classmethod
    def from_lambda_event(cls, event: Mapping[str, Any], context: Any = None) -> InvokeContext:
        """Build a context from an API Gateway (REST v1 or HTTP v2) Lambda proxy event.

        Claims come from `requestContext.authorizer.jwt.claims` (JWT authorizer, where the
        framework reads them), else `requestContext.authorizer.claims` (REST Cognito authorizer),
        else the bearer token. The request id is the Lambda context's `aws_request_id` (as the
        framework's `context.awsRequestId`), else `requestContext.requestId`, else a new UUID.
        """
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        request_context: Mapping[str, Any] = event.get("requestContext") or {}
        authorizer: Mapping[str, Any] = request_context.get("authorizer") or {}
        claims: Any = (authorizer.get("jwt") or {}).get("claims") or authorizer.get("claims")
        if not claims:
            claims = _claims_from_headers(headers)
        if not isinstance(claims, Mapping):
            raise InvalidTokenError("requestContext.authorizer claims are not an object")
        identity: Mapping[str, Any] = request_context.get("identity") or {}
        http: Mapping[str, Any] = request_context.get("http") or {}
        source_ip = str(identity.get("sourceIp") or http.get("sourceIp") or "")
        request_id = str(
            getattr(context, "aws_request_id", None)
            or request_context.get("requestId")
            or uuid.uuid4().hex
        )
        method = event.get("httpMethod") or http.get("method") or ""
        path = event.get("path") or http.get("path") or event.get("rawPath") or ""
        function = getattr(context, "function_name", None)
        source = f"{function}:{method} {path}" if function else f"{method} {path}"
        return cls(
            headers=headers,
            source_ip=source_ip,
            request_id=request_id,
            claims=dict(claims),
            source=source.strip(),
        )

    @classmethod
    def from_invoke(cls, invoke: Mapping[str, Any]) -> InvokeContext:
        """Build a context from the framework's raw IInvoke `{"event": ..., "context": ...}`.

        As the framework reads it: claims only from `event.requestContext.authorizer.jwt.claims`,
        the source IP from `event.requestContext.http.sourceIp`, the request id from
        `context.awsRequestId` (empty when absent; a publish's `request_id=` overrides it).
        """
        event: Mapping[str, Any] = invoke.get("event") or {}
        context: Mapping[str, Any] = invoke.get("context") or {}
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        request_context: Mapping[str, Any] = event.get("requestContext") or {}
        authorizer: Mapping[str, Any] = request_context.get("authorizer") or {}
        claims: Any = (authorizer.get("jwt") or {}).get("claims") or {}
        if not isinstance(claims, Mapping):
            raise InvalidTokenError("requestContext.authorizer.jwt.claims is not an object")
        http: Mapping[str, Any] = request_context.get("http") or {}
        function = context.get("functionName")
        route = str(event.get("routeKey") or "").strip()
        return cls(
            headers=headers,
            source_ip=str(http.get("sourceIp") or ""),
            request_id=str(context.get("awsRequestId") or ""),
            claims=dict(claims),
            source=f"{function}:{route}" if function else route,
        )

    @classmethod
    def system(cls, name: str, *, request_id: str | None = None) -> InvokeContext:
        """A context for background work with no HTTP request (jobs, scripts)."""
        return cls(source=name, request_id=request_id or uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class UserContext:
    """The calling user: id (the `sub` claim), tenant code (lower-case) and role in that tenant.

    As in the framework, `user_id` and `tenant_code` are None when the claims (and, for the
    tenant, the `x-tenant-code` header) do not carry them; `tenant_role` is then "".
    """

    user_id: str | None
    tenant_code: str | None
    tenant_role: str


def _roles(raw: Any) -> list[dict[str, str]]:
    if raw is None or raw == "":
        return []
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise InvalidTokenError(f"the custom:roles claim is not JSON: {exc}") from exc
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise InvalidTokenError("the custom:roles claim must be a JSON list of objects")
    return [
        {"tenant": str(entry.get("tenant") or "").lower(), "role": str(entry.get("role") or "")}
        for entry in value
    ]


def get_user_context(ctx: InvokeContext | Mapping[str, Any]) -> UserContext:
    """The user of an invocation (an InvokeContext or a raw IInvoke), with the framework's rules.

    Tenant: the `custom:tenant` claim, else the `x-tenant-code` header, lower-cased; None when
    neither. Role: from the `custom:roles` claim, a JSON list like `[{"tenant": "", "role":
    "admin"}, {"tenant": "t1", "role": "user"}]`, read in order: the first entry for the tenant
    wins at once; otherwise the LAST global (`""`) entry counts.
    """
    if not isinstance(ctx, InvokeContext):
        ctx = InvokeContext.from_invoke(ctx)
    claims = ctx.claims
    raw_tenant = claims.get("custom:tenant") or ctx.headers.get(HEADER_TENANT_CODE)
    tenant = str(raw_tenant).lower() if raw_tenant else None
    role = ""
    for entry in _roles(claims.get("custom:roles")):
        if entry["tenant"] == "" or entry["tenant"] == tenant:
            role = entry["role"]
            if entry["tenant"] != "":
                break
    sub = claims.get("sub")
    return UserContext(user_id=str(sub) if sub else None, tenant_code=tenant, tenant_role=role)
