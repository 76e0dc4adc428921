"""Helpers for the webhook tests: a real uvicorn server on 127.0.0.1, signing, store inspection."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from seawall.store import Store, open_store
from seawall.webhooks.schemes import get_scheme

SECRET = "whsec-test-0123456789"
GUIDE = get_scheme("hmac-timestamp")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in its own thread and event loop on a free port; yield the URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def event_body(event_id: str, event_type: str = "payment.completed", **data: Any) -> bytes:
    """A compact JSON event as the guide's provider sends it."""
    return json.dumps(
        {"id": event_id, "type": event_type, "data": data or {"amount": 100}},
        separators=(",", ":"),
    ).encode()


def guide_headers(
    body: bytes, secret: str = SECRET, timestamp: float | None = None
) -> dict[str, str]:
    """The guide's signature headers for `body`, plus a JSON content type."""
    headers = GUIDE.sign(body, secret, timestamp=time.time() if timestamp is None else timestamp)
    headers["content-type"] = "application/json"
    return headers


async def count(store: Store, sql: str, params: tuple[Any, ...] = ()) -> int:
    """The integer a COUNT query returns."""
    async with store.read() as tx:
        return int(await tx.fetchval(sql, params) or 0)


def inspect_sync(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Run a query on a separate store instance in a private event loop (for sync tests)."""

    async def run() -> list[dict[str, Any]]:
        store = open_store(url)
        try:
            async with store.read() as tx:
                return await tx.fetchall(sql, params)
        finally:
            await store.close()

    return asyncio.run(run())
