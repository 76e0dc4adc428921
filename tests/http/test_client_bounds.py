"""Both clients stay bounded against a hostile server: body size, bombs, trickles, Retry-After."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from seawall import ApiClient, SyncApiClient, with_retry
from seawall.http import ServerError
from seawall.http.errors import ResponseTooLarge
from seawall.resilience import CircuitState, RetryAfterTooLong
from seawall.testing import FakeClock
from tests.http.hostile_server import BOMB_BYTES, HostileServer

MiB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


def peak_during(run: Callable[[], Any]) -> tuple[Any, int]:
    """Run `run` under tracemalloc; return (its result or exception, the peak traced bytes)."""
    gc.collect()
    tracemalloc.start()
    try:
        try:
            outcome: Any = run()
        except Exception as exc:
            outcome = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome, peak


def sync_get(server: HostileServer, path: str, **options: Any) -> Callable[[], Any]:
    def run() -> Any:
        with SyncApiClient(server.url, deadline=3.0, **options) as client:
            return client.get(path)

    return run


def async_get(server: HostileServer, path: str, **options: Any) -> Callable[[], Any]:
    def run() -> Any:
        async def call() -> Any:
            async with ApiClient(server.url, deadline=3.0, **options) as client:
                return await client.get(path)

        return asyncio.run(call())

    return run


CLIENTS = {"async": async_get, "sync": sync_get}


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize("path", ["/endless", "/huge-length"])
def test_an_oversized_body_fails_fast_with_memory_bounded(
    server: HostileServer, kind: str, path: str
) -> None:
    outcome, peak = peak_during(CLIENTS[kind](server, path, max_response_bytes=1 * MiB))
    assert isinstance(outcome, ResponseTooLarge), outcome
    assert outcome.limit == MiB
    assert "max_response_bytes=1048576" in str(outcome)
    assert peak < 4 * MiB, f"client held {peak} bytes against a 1 MiB limit"
    assert server.requests[path.strip("/")] == 1, "a too-large body must not be retried"


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_gzip_bomb_is_stopped_by_the_ratio_guard(server: HostileServer, kind: str) -> None:
    outcome, peak = peak_during(CLIENTS[kind](server, "/bomb"))  # the 10 MiB default limit
    assert isinstance(outcome, ResponseTooLarge), outcome
    assert "decompression bomb" in str(outcome)
    assert peak < 4 * MiB
    assert server.requests["bomb"] == 1


@pytest.mark.parametrize("kind", CLIENTS)
def test_the_size_limit_counts_decoded_bytes(server: HostileServer, kind: str) -> None:
    # The bomb's wire size is tiny: only a limit counted after decompression can stop it.
    outcome, peak = peak_during(CLIENTS[kind](server, "/bomb", max_response_bytes=256 * 1024))
    assert isinstance(outcome, ResponseTooLarge)
    assert "body passed 262144 bytes" in str(outcome)
    assert peak < 2 * MiB


@pytest.mark.parametrize("kind", CLIENTS)
def test_an_honest_gzip_body_is_decoded(server: HostileServer, kind: str) -> None:
    response = CLIENTS[kind](server, "/gzip-json")()
    assert response.json() == {"ok": True, "items": list(range(100))}


def test_a_route_can_raise_its_own_limit(server: HostileServer) -> None:
    with SyncApiClient(server.url, deadline=3.0, max_response_bytes=1024) as client:
        client.route("GET", "/gzip-json", max_response_bytes=MiB)
        assert client.get("/gzip-json").json()["ok"] is True
        with pytest.raises(ResponseTooLarge):
            client.get("/endless")


async def test_too_large_answers_never_open_the_breaker(server: HostileServer) -> None:
    async with ApiClient(server.url, deadline=3.0, max_response_bytes=64 * 1024) as client:
        for _ in range(8):
            with pytest.raises(ResponseTooLarge):
                await client.get("/endless")
        breaker = client.settings.default_policy.pipeline.breaker
        assert breaker is not None
        assert breaker.state is CircuitState.CLOSED
    assert server.requests["endless"] == 8


@pytest.mark.parametrize("value", ["inf", "1e12", "99999999"])
def test_an_endless_retry_after_gives_up_at_once(server: HostileServer, value: str) -> None:
    clock = FakeClock()
    for deadline in (3.0, None):
        with (
            SyncApiClient(server.url, deadline=deadline, clock=clock) as client,
            pytest.raises(RetryAfterTooLong),
        ):
            client.get(f"/retry-after/{value}")
    assert clock.time() - FakeClock().time() < 1.0, "the client slept on the hint"


@pytest.mark.parametrize("value", ["nan", "-5", "soon"])
async def test_a_meaningless_retry_after_falls_back_to_backoff(
    server: HostileServer, value: str
) -> None:
    clock = FakeClock()
    async with ApiClient(server.url, deadline=10.0, clock=clock) as client:
        with pytest.raises(ServerError) as caught:
            await client.get(f"/retry-after/{value}")
    assert caught.value.attempts == 3
    assert server.requests["retry-after"] == 3


class Hinted(Exception):
    def __init__(self, retry_after: object) -> None:
        super().__init__("try later")
        self.retry_after = retry_after


@pytest.mark.parametrize("hint", [float("inf"), "inf", 1e300])
def test_with_retry_never_sleeps_for_ever_on_a_hint(hint: object) -> None:
    clock = FakeClock()

    def sync_fn() -> None:
        raise Hinted(hint)

    async def async_fn() -> None:
        raise Hinted(hint)

    with pytest.raises(RetryAfterTooLong):
        with_retry(sync_fn, max_retries=3, clock=clock)
    with pytest.raises(RetryAfterTooLong):
        asyncio.run(with_retry(async_fn, max_retries=3, clock=clock))


def test_redirects_are_returned_not_followed(server: HostileServer) -> None:
    """A 302 comes back to the caller; Authorization never reaches another host."""
    with SyncApiClient(server.url, headers={"Authorization": "Bearer s3cret"}) as client:
        response = client.get("/redirect-other-host")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("http://localhost:")
    assert server.requests["echo-auth"] == 0 and server.auth_seen == []


async def test_async_redirects_are_returned_not_followed(server: HostileServer) -> None:
    async with ApiClient(server.url, headers={"Authorization": "Bearer s3cret"}) as client:
        response = await client.get("/redirect-other-host")
    assert response.status_code == 302
    assert server.requests["echo-auth"] == 0 and server.auth_seen == []


def test_stream_reads_a_large_body_in_bounded_memory(server: HostileServer) -> None:
    async def read_all() -> tuple[int, int]:
        async with (
            ApiClient(server.url, deadline=10.0) as client,
            client.stream("GET", "/bomb") as response,
        ):
            assert response.status_code == 200
            total = biggest = 0
            async for chunk in response.iter_bytes():
                total += len(chunk)
                biggest = max(biggest, len(chunk))
        return total, biggest

    (total, biggest), peak = peak_during(lambda: asyncio.run(read_all()))
    assert total == BOMB_BYTES, "the whole body, decoded, reached the caller"
    assert biggest <= 256 * 1024
    assert peak < 4 * MiB


def test_stream_honours_its_own_limit(server: HostileServer) -> None:
    async def read_endless() -> int:
        seen = 0
        async with (
            ApiClient(server.url, deadline=10.0) as client,
            client.stream("GET", "/endless", max_bytes=3 * MiB) as response,
        ):
            async for chunk in response.iter_bytes():
                seen += len(chunk)
        return seen

    outcome, peak = peak_during(lambda: asyncio.run(read_endless()))
    assert isinstance(outcome, ResponseTooLarge)
    assert peak < 4 * MiB


async def test_stream_raises_the_named_error_for_an_error_status(server: HostileServer) -> None:
    clock = FakeClock()
    async with ApiClient(server.url, deadline=10.0, clock=clock) as client:
        with pytest.raises(ServerError) as caught:
            async with client.stream("GET", "/retry-after/0"):
                pass
    assert caught.value.status == 503 and caught.value.attempts == 3
