"""IdempotencyMiddleware against awkward handlers, over real HTTP on both engines.

Streaming answers pass through whole, a raising handler gets a complete problem+json 500 and
its key back, a slow handler keeps its lease, and keys follow one documented rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from seawall.idempotency import IdempotencyMiddleware
from seawall.idempotency.store import IdempotencyStore
from seawall.store import Store, open_store
from tests.serving import serve_in_loop

CHUNKS = [f"line {n}\n".encode() * 200 for n in range(20)]


def build_app(store: Store, runs: list[str], **options: Any) -> IdempotencyMiddleware:
    """Routes that stream, raise, or take their time; each run is recorded."""

    async def stream(request: Request) -> Response:
        runs.append("stream")

        async def body() -> AsyncIterator[bytes]:
            for chunk in CHUNKS:
                await asyncio.sleep(0)
                yield chunk

        return StreamingResponse(body(), media_type="text/plain")

    async def boom(request: Request) -> Response:
        runs.append("boom")
        if len(runs) == 1:
            raise RuntimeError("the handler broke")
        return JSONResponse({"ok": True}, status_code=201)

    async def slow(request: Request) -> Response:
        runs.append("slow")
        await asyncio.sleep(float(request.query_params.get("s", "1.0")))
        return JSONResponse({"run": len(runs)}, status_code=201)

    app = Starlette(
        routes=[
            Route("/stream", stream, methods=["POST"]),
            Route("/boom", boom, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
        ]
    )
    return IdempotencyMiddleware(app, store, **options)


@asynccontextmanager
async def serve(store: Store, runs: list[str], **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app served by uvicorn on a free port of 127.0.0.1, and a client for it."""
    async with serve_in_loop(build_app(store, runs, **options)) as client:
        yield client


@pytest.fixture
async def real_clock_store(store_url: str) -> AsyncIterator[Store]:
    """A store on each engine with the system clock (leases here run in real time)."""
    opened = open_store(store_url)
    await opened.migrate()
    yield opened
    drop = getattr(opened, "drop_schema", None)
    if drop is not None and opened.engine == "postgresql":
        await drop()
    else:
        await opened.close()


async def test_a_streaming_response_passes_through_whole_and_replays(store: Store) -> None:
    runs: list[str] = []
    async with serve(store, runs) as client:
        first = await client.post("/stream", content=b"x", headers={"Idempotency-Key": "s-1"})
        again = await client.post("/stream", content=b"x", headers={"Idempotency-Key": "s-1"})
    assert first.status_code == 200 and first.content == b"".join(CHUNKS)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert runs == ["stream"]


async def test_a_stream_past_the_cap_passes_through_and_is_not_stored(store: Store) -> None:
    runs: list[str] = []
    async with serve(store, runs, max_response_bytes=1000) as client:
        first = await client.post("/stream", content=b"x", headers={"Idempotency-Key": "s-2"})
        again = await client.post("/stream", content=b"x", headers={"Idempotency-Key": "s-2"})
    assert first.content == again.content == b"".join(CHUNKS)
    assert "idempotent-replayed" not in again.headers
    assert runs == ["stream", "stream"], "not replayable: documented, so the handler runs again"


async def test_a_raising_handler_gets_a_complete_500_and_its_key_back(store: Store) -> None:
    runs: list[str] = []
    async with serve(store, runs) as client:
        failed = await client.post("/boom", content=b"{}", headers={"Idempotency-Key": "b-1"})
        retried = await client.post("/boom", content=b"{}", headers={"Idempotency-Key": "b-1"})
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    problem = failed.json()
    assert problem["reason"] == "handler_failed" and problem["status"] == 500
    assert retried.status_code == 201, "the released key lets the retry run"
    assert runs == ["boom", "boom"]


async def test_the_lease_is_renewed_while_a_slow_handler_runs(real_clock_store: Store) -> None:
    runs: list[str] = []
    async with serve(real_clock_store, runs, lease_s=0.3) as client:
        headers = {"Idempotency-Key": "slow-1"}
        first = asyncio.create_task(client.post("/slow?s=1.0", content=b"a", headers=headers))
        await asyncio.sleep(0.7)  # more than two leases in: without renewal the key is free
        during = await client.post("/slow?s=1.0", content=b"a", headers=headers)
        done = await first
    assert during.status_code == 409
    assert done.status_code == 201
    assert runs == ["slow"], "a retry during the run must not execute the handler again"


async def test_renew_reports_a_lost_claim(store: Store) -> None:
    records = IdempotencyStore(store)
    claim = await records.claim("s", "k", "fp", lease_s=5)
    assert await records.renew(claim, 5)
    await records.release(claim)
    assert not await records.renew(claim, 5)


@pytest.mark.parametrize(
    "key",
    [b"tab\there", "caf\u00e9".encode("latin-1"), "caf\u00e9".encode(), b"bell\x07", b"x" * 256],
)
async def test_keys_outside_the_rule_are_refused(store: Store, key: bytes) -> None:
    runs: list[str] = []
    async with serve(store, runs) as client:
        response = await client.post("/slow?s=0", content=b"a", headers=[(b"Idempotency-Key", key)])
    assert response.status_code == 400
    if key != b"bell\x07":  # uvicorn itself refuses control characters in a header
        assert response.json()["reason"] == "invalid_idempotency_key"
    assert runs == []


@pytest.mark.parametrize("key", [b"a", b"550e8400-e29b-41d4-a716-446655440000", b'"quoted"'])
async def test_keys_inside_the_rule_are_accepted(store: Store, key: bytes) -> None:
    runs: list[str] = []
    async with serve(store, runs) as client:
        response = await client.post("/slow?s=0", content=b"a", headers=[(b"Idempotency-Key", key)])
    assert response.status_code == 201
