"""A bounded fuzz run over IdempotencyMiddleware, driven as raw ASGI (any header bytes at all).

Whatever the method, key bytes, body and chunking: never a 5xx, the app runs only for keys that
follow the rule, a repeat of a completed request replays, and refused keys store nothing.
`SEAWALL_FUZZ_EXAMPLES=5000 pytest tests/idempotency/test_middleware_fuzz.py` runs longer.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seawall.idempotency import IdempotencyMiddleware
from seawall.store import open_store

EXAMPLES = int(os.environ.get("SEAWALL_FUZZ_EXAMPLES", "200"))


async def call(
    app: Any, method: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, bytes]:
    """One request through the ASGI app; returns (status, body)."""
    scope = {
        "type": "http",
        "method": method,
        "path": "/orders",
        "raw_path": b"/orders",
        "query_string": b"",
        "headers": headers,
    }
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks or [b""])
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["POST", "PATCH", "PUT", "GET", "post"]),
    key=st.none() | st.binary(max_size=300) | st.from_regex(rb"[ -~]{1,40}", fullmatch=True),
    chunks=st.lists(st.binary(max_size=400), max_size=4),
    repeat=st.booleans(),
)
def test_any_request_gets_a_sound_answer(
    tmp_path: Path, method: str, key: bytes | None, chunks: list[bytes], repeat: bool
) -> None:
    async def go() -> None:
        store = open_store(f"sqlite:///{tmp_path}/fuzz-{uuid.uuid4().hex}.db")
        await store.migrate()
        runs: list[bytes] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            message = await receive()
            runs.append(message.get("body", b""))
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"run %d" % len(runs)})

        middleware = IdempotencyMiddleware(app, store, max_body_bytes=1000)
        headers = [(b"idempotency-key", key)] if key is not None else []
        try:
            first = await call(middleware, method, headers, chunks)
            second = await call(middleware, method, headers, chunks) if repeat else None
            async with store.read() as tx:
                stored = await tx.fetchval("SELECT COUNT(*) FROM seawall_idempotency")
        finally:
            await store.close()
        guarded = method.upper() in ("POST", "PATCH")
        trimmed = key.strip(b" ").strip(b'"') if key is not None else b""
        valid = (
            key is not None
            and key.isascii()
            and 0 < len(trimmed) <= 255
            and all(0x20 <= c <= 0x7E for c in trimmed)
        )
        too_big = sum(len(c) for c in chunks) > 1000
        assert first[0] < 500
        if not guarded:
            assert first[0] == 201 and stored == 0
            return
        if not valid or too_big:
            assert first[0] in (400, 413) and runs == [] and stored == 0
            return
        assert first[0] == 201 and stored == 1
        if second is not None:
            assert second == first and len(runs) == 1, "a repeat replays the stored answer"

    asyncio.run(go())
