"""Per-route policies, the sync client's twin semantics, the httpx adapter, and bad settings."""

from __future__ import annotations

import time

import httpx
import pytest

from seawall.http import (
    ApiClient,
    ApiTimeout,
    ClientError,
    ConfigurationError,
    HttpxTransport,
    ServerError,
    SyncApiClient,
)
from seawall.resilience import CircuitBreaker, CircuitState, Retry, RetryAfterTooLong
from seawall.testing import FakeClock, FakeProvider, FaultPlan, RouteFaults

GET_RES = "GET /resources/{id}"


def only(route: str, **faults: object) -> FaultPlan:
    """A plan with faults on one route only."""
    return FaultPlan(seed=9, routes={route: RouteFaults(**faults)})  # type: ignore[arg-type]


async def test_route_overrides_deadline_and_retry_for_matching_paths() -> None:
    plan = FaultPlan(
        seed=1,
        routes={
            GET_RES: RouteFaults(hang=1.0, hang_s=10),
            "GET /v1/payments/{id}": RouteFaults(status_503=1.0, retry_after_s=0),
        },
    )
    async with FakeProvider(plan) as provider, ApiClient(provider.url, deadline=25) as client:
        policy = client.route("GET", "/resources/*", deadline=0.25)
        client.route("*", "/v1/payments/*", retry=None)
        assert client.settings.policy("GET", "/resources/abc") is policy
        assert client.settings.policy("POST", "/resources/abc") is client.settings.default_policy
        started = time.monotonic()
        with pytest.raises(ApiTimeout):
            await client.get("/resources/slow")
        assert time.monotonic() - started < 0.55
        with pytest.raises(ServerError) as info:
            await client.get("/v1/payments/pay_1")
        assert info.value.attempts == 1
        assert policy.pipeline.breaker is client.settings.default_policy.pipeline.breaker


async def test_route_settings_are_validated() -> None:
    async with ApiClient("http://127.0.0.1:9") as client:
        with pytest.raises(ConfigurationError, match="deadline"):
            client.route("GET", "/x", deadline=-1)
        with pytest.raises(ConfigurationError, match="idempotency"):
            client.route("POST", "/x", idempotency="sometimes")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="start with"):
            client.route("GET", "x/*")
        client.route("POST", "/charges", idempotency="required")
        with pytest.raises(ConfigurationError, match="idempotency_key"):
            await client.post("/charges", json={})
        with pytest.raises(ConfigurationError, match="json= or content="):
            await client.post("/other", json={}, content=b"x")
    with pytest.raises(ConfigurationError, match="base_url"):
        ApiClient("ftp://example.com")
    with pytest.raises(ConfigurationError, match="read_timeout"):
        ApiClient("http://h", read_timeout=0)
    with pytest.raises(ConfigurationError, match="base_url"):
        await ApiClient().get("/relative")


def test_sync_client_retries_waits_and_gives_up_like_the_async_one() -> None:
    clock = FakeClock()
    plan = FaultPlan(seed=2, default=RouteFaults(status_503=1.0, retry_after_s=1.5))
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_ms=30000)
    with FakeProvider(plan) as provider, SyncApiClient(provider.url, clock=clock) as client:
        with pytest.raises(ServerError) as info:
            client.get("/resources/r1")
        assert info.value.attempts == 3 and clock.slept == [1.5, 1.5]
        with pytest.raises(ServerError) as unkeyed:
            client.post("/resources", json={})
        assert unkeyed.value.attempts == 1 and clock.slept == [1.5, 1.5]
    with (
        FakeProvider() as provider,
        SyncApiClient(provider.url, clock=clock, breaker=breaker) as client,
    ):
        for _ in range(4):
            with pytest.raises(ClientError):
                client.get("/resources/missing")
        created = client.post_json("/resources", {"a": 1}, idempotency_key="s1")
        assert client.get_json(f"/resources/{created['id']}")["a"] == 1
    assert breaker.state is CircuitState.CLOSED


def test_sync_client_honours_retry_after_limits_and_hang_deadlines() -> None:
    plan = only(GET_RES, status_429=1.0, retry_after_s=30)
    with FakeProvider(plan) as provider:
        with (
            SyncApiClient(provider.url, clock=FakeClock(), deadline=5) as client,
            pytest.raises(RetryAfterTooLong),
        ):
            client.get("/resources/r1")
        provider.set_plan(only(GET_RES, hang=1.0, hang_s=10))
        with SyncApiClient(provider.url, deadline=0.3) as client:
            started = time.monotonic()
            with pytest.raises(ApiTimeout):
                client.get("/resources/r1")
            assert time.monotonic() - started < 0.6


async def test_httpx_transport_adapter_gives_the_same_semantics() -> None:
    clock = FakeClock()
    async with FakeProvider(only(GET_RES, status_502=1.0)) as provider, httpx.AsyncClient() as http:
        client = ApiClient(provider.url, transport=HttpxTransport(http), clock=clock)
        with pytest.raises(ServerError) as info:
            await client.get("/resources/r1")
        created = await client.post_json("/resources", {"b": 2}, idempotency_key="h1")
        await client.aclose()
        assert not http.is_closed
    assert info.value.status == 502 and info.value.attempts == 3 and len(clock.slept) == 2
    assert created["b"] == 2


async def test_user_retry_is_narrowed_to_transient_http_errors() -> None:
    retry = Retry(max_attempts=4, retry_on=(Exception,))
    async with (
        FakeProvider() as provider,
        ApiClient(provider.url, retry=retry, clock=FakeClock()) as client,
    ):
        with pytest.raises(ClientError) as info:
            await client.get("/resources/none")
    assert info.value.attempts == 1


async def test_a_key_given_as_a_header_in_any_case_makes_post_retryable() -> None:
    plan = FaultPlan(seed=4, default=RouteFaults(status_503=1.0, retry_after_s=0))
    async with (
        FakeProvider(plan) as provider,
        ApiClient(provider.url, clock=FakeClock(), breaker=None) as client,
    ):
        with pytest.raises(ServerError) as info:
            await client.post("/resources", json={}, headers={"idempotency-key": "hdr-1"})
    assert info.value.attempts == 3
