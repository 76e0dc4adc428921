"""Request id and tenant on every log line of a request, read back from real JSON log output."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from seawall.config import SeawallConfig, StoreConfig
from seawall.observability.asgi import RequestContextMiddleware, context_value
from seawall.service import build_app
from tests.observability.conftest import parsed
from tests.serving import serve_in_loop

log = logging.getLogger("seawall.app_under_test.routes")


async def hello(request: Request) -> PlainTextResponse:
    name = request.query_params.get("name", "")
    log.info("before the await %s", name)
    await asyncio.sleep(0.01 if name == "slow" else 0)
    log.info("after the await %s", name)
    return PlainTextResponse("hi")


def _app(tmp_path: Path) -> object:
    config = SeawallConfig(store=StoreConfig(url=f"sqlite:///{tmp_path / 'ctx.db'}"))
    return build_app(config, with_worker=False, extra_routes=[Route("/hello", hello)])


async def test_request_id_and_tenant_ride_on_every_line(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    async with serve_in_loop(_app(tmp_path)) as client:
        answer = await client.get(
            "/hello",
            params={"name": "a"},
            headers={"X-Request-Id": "req-123", "X-Tenant-Code": "ACME"},
        )
    assert answer.headers["x-request-id"] == "req-123"
    lines = [r for r in parsed(log_lines) if r["logger"] == log.name]
    assert len(lines) == 2
    for line in lines:
        assert line["request_id"] == "req-123" and line["tenant"] == "acme"


@pytest.mark.parametrize(
    "sent",
    [None, "", "x" * 129, "has space", "caf\u00e9".encode(), "tab\there"],
)
async def test_a_missing_or_unfit_request_id_is_replaced(
    tmp_path: Path, log_lines: io.StringIO, sent: str | bytes | None
) -> None:
    headers = {} if sent is None else {"X-Request-Id": sent}
    async with serve_in_loop(_app(tmp_path)) as client:
        answer = await client.get("/hello", headers=headers)
    echoed = answer.headers["x-request-id"]
    assert len(echoed) == 32 and int(echoed, 16) >= 0
    [line, _] = [r for r in parsed(log_lines) if r["logger"] == log.name]
    assert line["request_id"] == echoed and "tenant" not in line


async def test_concurrent_requests_keep_their_own_ids(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    async with serve_in_loop(_app(tmp_path)) as client:
        await asyncio.gather(
            *(
                client.get("/hello", params={"name": n}, headers={"X-Request-Id": f"id-{n}"})
                for n in ("slow", "fast1", "fast2", "fast3")
            )
        )
    lines = [r for r in parsed(log_lines) if r["logger"] == log.name]
    assert len(lines) == 8
    for line in lines:
        assert line["request_id"] == f"id-{str(line['msg']).split()[-1]}"


async def test_the_middleware_wraps_any_asgi_app(log_lines: io.StringIO) -> None:
    async def plain(scope, receive, send):  # type: ignore[no-untyped-def]
        log.info("inside")
        await send(
            {"type": "http.response.start", "status": 204, "headers": [(b"x-request-id", b"old")]}
        )
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=RequestContextMiddleware(plain))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/", headers={"x-request-id": "abc"})
    assert answer.headers.get_list("x-request-id") == ["abc"]
    [line] = [r for r in parsed(log_lines) if r["logger"] == log.name]
    assert line["request_id"] == "abc"


def test_context_value_rule() -> None:
    assert context_value(b"ok-1") == "ok-1"
    for bad in (None, b"", b"a b", b"\x00", b"x" * 129, "é".encode()):
        assert context_value(bad) is None


async def test_a_refused_webhook_logs_its_request_id_tenant_and_source(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    from seawall.config import WebhookEndpointConfig

    config = SeawallConfig(
        store=StoreConfig(url=f"sqlite:///{tmp_path / 'hook.db'}"),
        webhooks=[WebhookEndpointConfig(source="shop", path="/hooks/shop", secrets=["literal:s3"])],
    )
    async with serve_in_loop(build_app(config, with_worker=False)) as client:
        answer = await client.post(
            "/hooks/shop",
            content=b'{"id":"e1","type":"t"}',
            headers={"X-Request-Id": "req-hook-1", "X-Tenant-Code": "Acme"},
        )
    assert answer.status_code in (400, 401)
    [line] = [r for r in parsed(log_lines) if "webhook rejected" in str(r["msg"])]
    assert line["request_id"] == "req-hook-1" and line["tenant"] == "acme"
    assert line["source"] == "shop"
