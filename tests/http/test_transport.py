"""AiohttpTransport against a real local server: headers sent, URL reuse, whole-attempt timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import seawall
from seawall.http import ApiClient, ApiTimeout, SyncApiClient, Timeouts
from seawall.http.transport import AiohttpTransport


async def echo(request: web.Request) -> web.Response:
    """Answer with the request's headers and query string as JSON."""
    return web.json_response(
        {
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "names": [name.lower() for name in request.headers],
            "query": dict(request.query),
            "body": (await request.read()).decode(),
        }
    )


async def trickle(request: web.Request) -> web.StreamResponse:
    """Send the headers, then one body byte every 50 ms for as long as the client listens."""
    response = web.StreamResponse(status=200)
    await response.prepare(request)
    for _ in range(200):
        await response.write(b".")
        await asyncio.sleep(0.05)
    return response


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A real aiohttp server on a free port of 127.0.0.1."""
    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/trickle", trickle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_seawall_user_agent_unless_the_caller_sets_one(server: str) -> None:
    async with ApiClient(server) as client:
        plain = await client.get_json("/echo")
        named = await client.get_json("/echo", headers={"user-agent": "shop/1.2"})
        accept = await client.get_json("/echo", headers={"ACCEPT": "text/plain"})
    assert plain["headers"]["user-agent"] == f"seawall/{seawall.__version__}"
    assert plain["headers"]["accept"] == "application/json"
    # The caller's header replaces the default whatever its spelling, and is sent once.
    assert named["headers"]["user-agent"] == "shop/1.2"
    assert named["names"].count("user-agent") == 1
    assert accept["headers"]["accept"] == "text/plain"
    assert accept["names"].count("accept") == 1


@pytest.mark.parametrize("client_kind", ["async", "sync"])
async def test_json_and_idempotency_headers_are_sent_once_whatever_their_case(
    server: str, client_kind: str
) -> None:
    defaults = {"accept": "application/problem+json"}
    first: dict[str, Any] = {
        "headers": {"content-type": "text/plain", "idempotency-key": "from-header"},
        "idempotency_key": "from-argument",
    }
    second: dict[str, Any] = {"headers": {"IDEMPOTENCY-KEY": "from-header"}}
    if client_kind == "async":
        async with ApiClient(server, headers=defaults) as client:
            sent = await client.post_json("/echo", {"n": 1}, **first)
            header_only = await client.post_json("/echo", {"n": 2}, **second)
    else:

        def both() -> tuple[Any, Any]:
            with SyncApiClient(server, headers=defaults) as client:
                return (
                    client.post_json("/echo", {"n": 1}, **first),
                    client.post_json("/echo", {"n": 2}, **second),
                )

        sent, header_only = await asyncio.to_thread(both)
    assert sent["headers"]["content-type"] == "application/json"  # json= sets it
    assert sent["headers"]["idempotency-key"] == "from-argument"  # the argument wins
    assert sent["headers"]["accept"] == "application/problem+json"  # the client's own default
    for name in ("content-type", "idempotency-key", "accept", "user-agent"):
        assert sent["names"].count(name) == 1, name
    assert header_only["headers"]["idempotency-key"] == "from-header"
    assert header_only["names"].count("idempotency-key") == 1


async def test_repeated_and_varied_urls_reach_the_server_intact(server: str) -> None:
    async with ApiClient(server) as client:
        seen = [
            await client.post_json("/echo", {"n": n}, params={"q": f"a b/{n}", "x": "1"})
            for n in range(3)
        ]
        again = await client.post_json("/echo", {"n": 0}, params={"q": "a b/0", "x": "1"})
    assert [item["query"] for item in seen] == [{"q": f"a b/{n}", "x": "1"} for n in range(3)]
    assert again == seen[0]
    assert [item["body"] for item in seen] == [f'{{"n":{n}}}' for n in range(3)]
    assert seen[1]["headers"]["content-type"] == "application/json"


async def test_a_trickling_body_is_cut_at_the_attempt_read_timeout(server: str) -> None:
    transport = AiohttpTransport()
    try:
        started = time.monotonic()
        with pytest.raises(ApiTimeout, match="read timeout"):
            await transport.send("GET", f"{server}/trickle", {}, None, Timeouts(1.0, 0.3))
        took = time.monotonic() - started
        # A byte arrives every 50 ms, so only a bound on the whole attempt can stop it.
        assert 0.25 <= took < 2.0
        # The same transport and timeout values still serve the next request normally.
        answer = await transport.send("GET", f"{server}/echo", {}, None, Timeouts(1.0, 0.3))
        assert answer.status == 200
    finally:
        await transport.aclose()
