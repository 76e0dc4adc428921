"""IdempotencyMiddleware over real HTTP (uvicorn on 127.0.0.1): 400, 409, 422, replay, 5xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seawall.idempotency import IdempotencyMiddleware
from seawall.store import Store
from tests.serving import serve_in_loop


@dataclass
class AppState:
    """What the app saw, and gates to hold a request in flight."""

    runs: list[bytes] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    fail_next: int = 0


def build_app(store: Store, state: AppState, **options: Any) -> IdempotencyMiddleware:
    """A small Starlette app wrapped in the middleware."""

    async def create(request: Request) -> Response:
        body = await request.body()
        state.runs.append(body)
        if request.query_params.get("hold"):
            state.entered.set()
            await state.release.wait()
        if state.fail_next:
            state.fail_next -= 1
            return JSONResponse({"error": "downstream"}, status_code=503)
        return JSONResponse(
            {"created": json.loads(body or b"{}"), "run": len(state.runs)},
            status_code=201,
            headers={"x-order-id": f"ord-{len(state.runs)}"},
        )

    async def read(request: Request) -> Response:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[Route("/orders", create, methods=["POST"]), Route("/orders", read, methods=["GET"])]
    )
    return IdempotencyMiddleware(app, store, **options)


@asynccontextmanager
async def serve(store: Store, **options: Any) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    """The app served by uvicorn on a free port of 127.0.0.1, and a client for it."""
    state = AppState()
    async with serve_in_loop(build_app(store, state, **options)) as client:
        yield client, state


@pytest_asyncio.fixture
async def served(store: Store) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    """The app with the default middleware options."""
    async with serve(store) as pair:
        yield pair


async def test_missing_key_is_400_with_a_problem_body(
    served: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, state = served
    response = await client.post("/orders", json={"item": "a"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["reason"] == "missing_idempotency_key" and problem["status"] == 400
    assert state.runs == []
    blank = await client.post("/orders", json={}, headers={"Idempotency-Key": ""})
    assert blank.status_code == 400 and blank.json()["reason"] == "invalid_idempotency_key"
    # safe methods pass through without a key
    assert (await client.get("/orders")).status_code == 200


async def test_repeat_replays_status_headers_and_body(
    served: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, state = served
    headers = {"Idempotency-Key": "key-1"}
    first = await client.post("/orders", json={"item": "a"}, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    second = await client.post("/orders", json={"item": "a"}, headers=headers)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["x-order-id"] == first.headers["x-order-id"] == "ord-1"
    assert second.content == first.content
    assert len(state.runs) == 1


async def test_reuse_with_another_payload_is_422(
    served: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, state = served
    headers = {"Idempotency-Key": "key-2"}
    assert (await client.post("/orders", json={"item": "a"}, headers=headers)).status_code == 201
    other = await client.post("/orders", json={"item": "B"}, headers=headers)
    assert other.status_code == 422 and other.json()["reason"] == "idempotency_key_reused"
    other_path = await client.post("/orders?x=1", json={"item": "a"}, headers=headers)
    assert other_path.status_code == 422
    assert len(state.runs) == 1


async def test_key_in_flight_is_409(served: tuple[httpx.AsyncClient, AppState]) -> None:
    client, state = served
    headers = {"Idempotency-Key": "key-3"}
    first = asyncio.create_task(client.post("/orders?hold=1", json={"n": 1}, headers=headers))
    await asyncio.wait_for(state.entered.wait(), 10)
    clash = await client.post("/orders?hold=1", json={"n": 1}, headers=headers)
    assert clash.status_code == 409
    assert clash.json()["reason"] == "idempotency_key_in_flight"
    assert clash.headers["retry-after"] == "1"
    state.release.set()
    assert (await first).status_code == 201
    replay = await client.post("/orders?hold=1", json={"n": 1}, headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert len(state.runs) == 1


async def test_server_errors_are_not_stored_so_a_retry_runs(
    served: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, state = served
    state.fail_next = 1
    headers = {"Idempotency-Key": "key-4"}
    failed = await client.post("/orders", json={"n": 1}, headers=headers)
    assert failed.status_code == 503
    retried = await client.post("/orders", json={"n": 1}, headers=headers)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    replay = await client.post("/orders", json={"n": 1}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert len(state.runs) == 2


async def test_optional_keys_partitions_and_size_limit(store: Store) -> None:
    async with serve(
        store,
        required=False,
        partition=lambda scope: dict(scope["headers"]).get(b"x-user", b"anon").decode(),
        max_body_bytes=64,
    ) as (client, state):
        assert (await client.post("/orders", json={"n": 1})).status_code == 201
        assert (await client.post("/orders", json={"n": 1})).status_code == 201
        assert len(state.runs) == 2  # no key: not idempotent, but allowed
        alice = {"Idempotency-Key": "shared", "x-user": "alice"}
        bob = {"Idempotency-Key": "shared", "x-user": "bob"}
        assert (await client.post("/orders", json={"n": 1}, headers=alice)).status_code == 201
        other = await client.post("/orders", json={"n": 2}, headers=bob)
        assert other.status_code == 201 and "idempotent-replayed" not in other.headers
        assert len(state.runs) == 4  # the same key in two partitions is two requests
        big = await client.post("/orders", content=b"x" * 65, headers=alice)
        assert big.status_code == 413 and big.json()["reason"] == "body_too_large"
        assert len(state.runs) == 4
