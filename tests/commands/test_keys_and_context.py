"""Key helpers, models, InvokeContext (ASGI, real HTTP, Lambda event), get_user_context."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from seawall.commands import (
    VERSION_FIRST,
    VERSION_LATEST,
    CommandInputModel,
    InvalidTokenError,
    InvokeContext,
    UserContext,
    add_sort_key_version,
    generate_id,
    get_sort_key_version,
    get_tenant_code,
    get_user_context,
    remove_sort_key_version,
)


def make_jwt(claims: dict[str, Any]) -> str:
    """An unsigned-looking JWT carrying `claims` (the signature is not checked by design)."""

    def seg(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{seg({'alg': 'RS256'})}.{seg(claims)}.c2lnbmF0dXJl"


def test_key_helpers() -> None:
    assert VERSION_FIRST == 0 and VERSION_LATEST == -1
    assert generate_id("ORDER#t1", "o-1") == "ORDER#t1#o-1"
    assert add_sort_key_version("o-1", 3) == "o-1@3"
    assert add_sort_key_version("o-1@2", 3) == "o-1@3"
    assert remove_sort_key_version("o-1@3") == "o-1"
    # the framework gives -1 (VERSION_LATEST) for a key without `@`, and None for no `#`
    assert get_sort_key_version("o-1@12") == 12
    assert get_sort_key_version("o-1") == VERSION_LATEST
    assert get_tenant_code("ORDER#tenant-a") == "tenant-a"
    assert get_tenant_code("A#B#c") == "c"
    assert get_tenant_code("nohash") is None
    assert get_tenant_code("") is None


def test_key_helpers_keep_addresses_whole_where_the_framework_cuts() -> None:
    # seawall differs on purpose: the framework's removeSortKeyVersion('USER#a@b.com') is
    # 'USER#a' and getSortKeyVersion of it is NaN; only a numeric suffix is a version here
    assert remove_sort_key_version("USER#a@b.com") == "USER#a@b.com"
    assert get_sort_key_version("USER#a@b.com") == VERSION_LATEST
    assert add_sort_key_version("USER#a@b.com", 2) == "USER#a@b.com@2"
    assert remove_sort_key_version("USER#a@b.com@2") == "USER#a@b.com"
    assert get_sort_key_version("USER#a@b.com@2") == 2
    assert generate_id("USER#t1", "a@b.com@2") == "USER#t1#a@b.com"


def test_input_model_defaults_and_validation() -> None:
    defaulted = CommandInputModel(pk="NOHASH", sk="s", code="c", name="n", type="T")
    assert defaulted.version == VERSION_FIRST and defaulted.tenant_code == ""
    item = CommandInputModel.model_validate(
        {
            "pk": "ORDER#t1",
            "sk": "o-1",
            "code": "o-1",
            "name": "n",
            "version": 0,
            "type": "ORDER",
            "tenantCode": "",
            "isDeleted": False,
            "attributes": {"a": 1},
        }
    )
    assert item.id == "ORDER#t1#o-1" and item.tenant_code == "t1" and not item.is_deleted
    with pytest.raises(ValidationError):
        CommandInputModel(pk=" ", sk="s", code="c", name="n", version=0, type="T")
    with pytest.raises(ValidationError):
        CommandInputModel(pk="p", sk="s", code="c", name="n", version=-2, type="T")
    with pytest.raises(ValidationError, match="JSON-able"):
        CommandInputModel(
            pk="p", sk="s", code="c", name="n", version=0, type="T", attributes={"x": object()}
        )


def test_user_context_rules() -> None:
    roles = json.dumps([{"tenant": "", "role": "admin"}, {"tenant": "T1", "role": "user"}])
    ctx = InvokeContext(claims={"sub": "u-1", "custom:tenant": "T1", "custom:roles": roles})
    assert get_user_context(ctx) == UserContext("u-1", "t1", "user")  # tenant entry wins
    other = InvokeContext(claims={"sub": "u-1", "custom:tenant": "t2", "custom:roles": roles})
    assert get_user_context(other).tenant_role == "admin"  # falls back to the global entry
    by_header = InvokeContext(headers={"x-tenant-code": "HdR"}, claims={"sub": "u-2"})
    assert get_user_context(by_header) == UserContext("u-2", "hdr", "")
    # two global roles: the last one counts; a tenant entry wins at once wherever it is
    two = json.dumps([{"tenant": "", "role": "a"}, {"tenant": "", "role": "b"}])
    assert get_user_context(InvokeContext(claims={"custom:roles": two})).tenant_role == "b"
    first = json.dumps(
        [{"role": "g1"}, {"tenant": "t1", "role": "u"}, {"tenant": "", "role": "g2"}]
    )
    ctx_t1 = InvokeContext(claims={"custom:tenant": "t1", "custom:roles": first})
    assert get_user_context(ctx_t1).tenant_role == "u"
    # no tenant and no user: None, as the framework's undefined
    assert get_user_context(InvokeContext()) == UserContext(None, None, "")
    with pytest.raises(InvalidTokenError):
        get_user_context(InvokeContext(claims={"custom:roles": "not json"}))
    with pytest.raises(InvalidTokenError):
        get_user_context(InvokeContext(claims={"custom:roles": '{"tenant": ""}'}))


def test_lambda_events_v1_and_v2() -> None:
    v1 = {
        "httpMethod": "POST",
        "path": "/orders",
        "headers": {"X-Tenant-Code": "T9", "User-Agent": "x"},
        "requestContext": {
            "requestId": "req-1",
            "identity": {"sourceIp": "203.0.113.5"},
            "authorizer": {"claims": {"sub": "u-9"}},
        },
    }
    ctx = InvokeContext.from_lambda_event(v1)
    assert ctx.request_id == "req-1" and ctx.source_ip == "203.0.113.5"
    assert (
        InvokeContext.from_lambda_event(v1, type("C", (), {"aws_request_id": "aws-9"})()).request_id
        == "aws-9"
    )
    assert ctx.source == "POST /orders" and ctx.headers["x-tenant-code"] == "T9"
    assert get_user_context(ctx) == UserContext("u-9", "t9", "")

    class LambdaContext:
        function_name = "orders-fn"
        aws_request_id = "aws-1"

    v2 = {
        "rawPath": "/orders",
        "headers": {"authorization": "Bearer " + make_jwt({"sub": "ignored"})},
        "requestContext": {
            "http": {"method": "PUT", "path": "/orders", "sourceIp": "198.51.100.1"},
            "authorizer": {"jwt": {"claims": {"sub": "u-10", "custom:tenant": "AA"}}},
        },
    }
    ctx2 = InvokeContext.from_lambda_event(v2, LambdaContext())
    assert ctx2.request_id == "aws-1" and ctx2.source == "orders-fn:PUT /orders"
    assert get_user_context(ctx2) == UserContext("u-10", "aa", "")
    bearer_only = {"headers": {"Authorization": "Bearer " + make_jwt({"sub": "u-11"})}}
    assert get_user_context(InvokeContext.from_lambda_event(bearer_only)).user_id == "u-11"


def test_raw_invoke_as_the_framework_reads_it() -> None:
    invoke = {
        "event": {
            "routeKey": "POST /orders",
            "headers": {"X-Tenant-Code": "T2"},
            "requestContext": {
                "requestId": "api-req",
                "http": {"method": "POST", "sourceIp": "198.51.100.7"},
                "authorizer": {
                    "claims": {"sub": "not-read"},
                    "jwt": {"claims": {"sub": "u-7", "custom:roles": '[{"role": "ops"}]'}},
                },
            },
        },
        "context": {"awsRequestId": "aws-7", "functionName": "fn"},
    }
    ctx = InvokeContext.from_invoke(invoke)
    assert ctx.request_id == "aws-7" and ctx.source_ip == "198.51.100.7"
    assert ctx.claims["sub"] == "u-7" and ctx.source == "fn:POST /orders"
    assert get_user_context(invoke) == UserContext("u-7", "t2", "ops")
    # only authorizer.jwt.claims are read; no awsRequestId gives an empty request id
    bare = {"event": {"requestContext": {"authorizer": {"claims": {"sub": "x"}}}}}
    assert get_user_context(bare) == UserContext(None, None, "")
    assert InvokeContext.from_invoke(bare).request_id == ""


def test_asgi_scope_and_bad_tokens() -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "client": ("10.0.0.7", 5555),
        "headers": [
            (b"x-forwarded-for", b"203.0.113.9, 10.0.0.1"),
            (b"x-request-id", b"rid-1"),
        ],
    }
    ctx = InvokeContext.from_asgi(scope)
    assert ctx.source_ip == "10.0.0.7" and ctx.request_id == "rid-1" and ctx.claims == {}
    assert InvokeContext.from_asgi(scope, trust_forwarded_for=True).source_ip == "203.0.113.9"
    bad = {**scope, "headers": [(b"authorization", b"Bearer not-a-jwt")]}
    with pytest.raises(InvalidTokenError):
        InvokeContext.from_asgi(bad)
    garbage = {**scope, "headers": [(b"authorization", b"Bearer a.!!!.c")]}
    with pytest.raises(InvalidTokenError):
        InvokeContext.from_asgi(garbage)
    system = InvokeContext.system("nightly-job")
    assert system.source == "nightly-job" and system.request_id


async def test_context_from_a_real_starlette_request() -> None:
    seen: dict[str, Any] = {}

    async def whoami(request: Request) -> JSONResponse:
        ctx = InvokeContext.from_request(request)
        user = get_user_context(ctx)
        seen["ctx"] = ctx
        return JSONResponse(
            {"user": user.user_id, "tenant": user.tenant_code, "role": user.tenant_role}
        )

    app = Starlette(routes=[Route("/me", whoami, methods=["GET"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    token = make_jwt({"sub": "u-42", "custom:roles": json.dumps([{"tenant": "", "role": "ops"}])})
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get(
                "/me", headers={"Authorization": f"Bearer {token}", "X-Tenant-Code": "Acme"}
            )
    finally:
        server.should_exit = True
        await task
    assert response.json() == {"user": "u-42", "tenant": "acme", "role": "ops"}
    assert seen["ctx"].source_ip == "127.0.0.1" and seen["ctx"].source == "GET /me"
