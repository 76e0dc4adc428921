"""The service assembly from a TOML config: guide endpoint, handlers module, in-process worker."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from seawall.config import load_config
from seawall.service.app import build_app
from seawall.store import Store
from tests.serving import serve_in_thread
from tests.webhooks.handlers_effects import EFFECTS_DDL
from tests.webhooks.support import SECRET, count, event_body, guide_headers

URL_PATH = "/api/webhooks/payment-provider"


def write_config(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "seawall.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"

[worker]
poll_interval_s = 0.05

[[webhooks]]
source = "effects"
path = "/api/webhooks/payment-provider"
scheme = "hmac-timestamp"
secrets = ["literal:{SECRET}"]
handlers = "tests.webhooks.handlers_effects"
"""
    )
    return path


async def wait_for(store: Store, sql: str, expected: int, timeout: float = 10.0) -> int:
    """Poll a COUNT query until it reaches `expected` (the worker runs in the server's thread)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    value = await count(store, sql)
    while value != expected and loop.time() < end:
        await asyncio.sleep(0.05)
        value = await count(store, sql)
    return value


async def test_config_service_receives_and_processes(
    tmp_path: Path, store_url: str, wstore: Store
) -> None:
    async with wstore.transaction() as tx:
        await tx.execute(EFFECTS_DDL)
    config = load_config(write_config(tmp_path, store_url))
    entered: list[str] = []

    @contextlib.asynccontextmanager
    async def hook(app: Starlette) -> AsyncIterator[None]:
        entered.append("up")
        yield
        entered.append("down")

    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    app = build_app(config, extra_routes=[Route("/ping", ping)], lifespan_hooks=[hook])
    with serve_in_thread(app) as base:
        # Startup froze what existed for the garbage collector (shorter pauses under load).
        assert gc.get_freeze_count() > 0
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/ping")).text == "pong"
            for i in range(5):
                body = event_body(f"evt_{i}", amount=i + 1)
                resp = await client.post(
                    "/api/webhooks/payment-provider", content=body, headers=guide_headers(body)
                )
                assert resp.json() == {"received": True}
        processed = await wait_for(
            wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox WHERE status = 'processed'", 5
        )
        assert entered == ["up"]
    assert entered == ["up", "down"]
    assert gc.get_freeze_count() == 0  # shutdown hands them back
    assert processed == 5
    assert await count(wstore, "SELECT COUNT(*) FROM test_webhook_effects") == 5
    assert await count(wstore, "SELECT SUM(amount) FROM test_webhook_effects") == 15


def test_build_app_without_worker(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, f"sqlite:///{tmp_path}/s.db"))
    app: Any = build_app(config, with_worker=False)
    assert app.state.worker is None
    assert [e.source for e in app.state.webhooks.endpoints] == ["effects"]


async def test_webhook_paths_reach_added_middleware_and_handlers(tmp_path: Path) -> None:
    """Requests to webhook paths skip Starlette's stack only while it would add nothing."""
    config = load_config(write_config(tmp_path, f"sqlite:///{tmp_path}/m.db"))
    app: Any = build_app(config, with_worker=False)
    seen: list[str] = []

    class Recording:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await self.inner(scope, receive, send)

    with serve_in_thread(app) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            body = event_body("evt_direct", amount=1)
            direct = await client.post(URL_PATH, content=body, headers=guide_headers(body))
            refused = await client.get(URL_PATH)
            slash = await client.post(URL_PATH + "/", content=body, headers=guide_headers(body))
    assert direct.json() == {"received": True}
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert slash.status_code in (307, 404, 405)  # not the exact path: Starlette's router answers

    app = build_app(config, with_worker=False)
    app.add_middleware(Recording)
    with serve_in_thread(app) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            body = event_body("evt_wrapped", amount=2)
            wrapped = await client.post(URL_PATH, content=body, headers=guide_headers(body))
    assert wrapped.json() == {"received": True}
    assert seen == [URL_PATH]  # the added middleware saw the webhook request
