"""seawall inside an existing FastAPI app: `mount` from the TOML file, served by a real uvicorn.

The host app keeps its own routes and lifespan; seawall's webhook endpoint verifies, stores and
processes through the worker in the same lifespan; seawall's errors answer problem+json.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

fastapi = pytest.importorskip("fastapi")

from seawall.commands import VersionConflictError  # noqa: E402
from seawall.resilience import CircuitOpenError  # noqa: E402
from seawall.service import mount  # noqa: E402
from seawall.webhooks.schemes import get_scheme  # noqa: E402
from tests.serving import serve_in_thread  # noqa: E402


def call(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    """One request; (status, headers, parsed JSON body)."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def test_mount_serves_webhooks_and_worker_inside_a_fastapi_app(tmp_path: Path) -> None:
    event_type = f"embed.{uuid.uuid4().hex[:8]}"
    module = f"embed_hooks_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "from seawall.webhooks import on\n"
        "SEEN = []\n"
        f"@on({event_type!r})\n"
        "async def handle(event, tx):\n"
        "    SEEN.append(event.payload['data'])\n"
    )
    config = tmp_path / "seawall.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/seawall.db"\n\n'
        "[worker]\npoll_interval_s = 0.05\n\n"
        '[[webhooks]]\nsource = "provider"\npath = "/hooks/provider"\n'
        'scheme = "hmac-timestamp"\nsecrets = ["literal:s3cret"]\n'
        f'handlers = "{module}"\n'
    )
    host_events: list[str] = []

    @asynccontextmanager
    async def host_lifespan(app: Any) -> AsyncIterator[None]:
        host_events.append("started")
        yield
        host_events.append("stopped")

    app = fastapi.FastAPI(lifespan=host_lifespan)

    @app.get("/orders/{order_id}")
    async def stale(order_id: str) -> dict[str, str]:
        raise VersionConflictError("ORDER", order_id, expected=1, actual=2)

    @app.get("/gateway")
    async def gateway() -> dict[str, str]:
        raise CircuitOpenError("gateway", 12.0)

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    service = mount(app, config)

    with serve_in_thread(app) as base:
        assert host_events == ["started"]
        assert call("GET", f"{base}/ping")[2] == {"pong": "yes"}
        body = json.dumps({"id": "evt-1", "event": event_type, "data": {"n": 1}}).encode()
        headers = get_scheme("hmac-timestamp").sign(body, "s3cret")
        status, _, answer = call("POST", f"{base}/hooks/provider", body, headers)
        assert (status, answer) == (200, {"received": True})
        forged = {**headers, "x-signature": "0" * 64}
        assert call("POST", f"{base}/hooks/provider", body, forged)[0] in (400, 401)

        import sys

        seen = sys.modules[module].SEEN
        deadline = time.monotonic() + 15
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen == [{"n": 1}]  # the worker ran inside the app's lifespan

        status, got, problem = call("GET", f"{base}/orders/o-1")
        assert status == 409 and got["content-type"] == "application/problem+json"
        assert problem["title"] == "VersionConflictError" and problem["status"] == 409
        assert "latest is 2" in problem["detail"] and problem["instance"] == "/orders/o-1"
        status, got, problem = call("GET", f"{base}/gateway")
        assert (status, got["retry-after"], problem["status"]) == (503, "12", 503)
        assert app.state.seawall is service
    assert host_events == ["started", "stopped"]
    stored = asyncio.run(_count_stored(tmp_path))
    assert stored == 1


async def _count_stored(tmp_path: Path) -> int:
    from seawall.store import open_store
    from seawall.webhooks import list_events

    store = open_store(f"sqlite:///{tmp_path}/seawall.db")
    try:
        events = await list_events(store, source="provider")
        return len(list(events))
    finally:
        await store.close()
