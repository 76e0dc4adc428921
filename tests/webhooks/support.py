"""Helpers for the webhook tests: a real uvicorn server on 127.0.0.1, signing, store inspection."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from seawall.store import Store, open_store
from seawall.webhooks.schemes import get_scheme

SECRET = "whsec-test-0123456789"
GUIDE = get_scheme("hmac-timestamp")


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
