"""ApiClient against FakeProvider over real sockets: every fault kind, waits and final errors."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from seawall.http import (
    AiohttpTransport,
    ApiClient,
    ApiConnectionError,
    ApiTimeout,
    ClientError,
    InvalidResponseError,
    RawResponse,
    ServerError,
    Timeouts,
)
from seawall.resilience import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Constant,
    DeadlineExceeded,
    Retry,
    RetryAfterTooLong,
    RetryBudget,
    RetryBudgetExhausted,
)
from seawall.testing import FakeClock, FakeProvider, FaultPlan, RouteFaults

GET_RES = "GET /resources/{id}"
POST_RES = "POST /resources"


def only(route: str, **faults: object) -> FaultPlan:
    """A plan with faults on one route only."""
    return FaultPlan(seed=5, routes={route: RouteFaults(**faults)})  # type: ignore[arg-type]


def requests_on(provider: FakeProvider, route: str) -> int:
    """How many requests reached `route`."""
    return sum(provider.counters()["requests"].get(route, {}).values())


class RecordingTransport(AiohttpTransport):
    """The real aiohttp transport, remembering the headers and timeouts of every attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[dict[str, str], Timeouts]] = []

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: Timeouts,
        limit: int | None = None,
    ) -> RawResponse:
        self.sent.append((dict(headers), timeout))
        return await super().send(method, url, headers, content, timeout, limit)


async def resource_id(client: ApiClient) -> str:
    """Create a resource and return its id (POST with a key, so it is safe to retry)."""
    data = await client.post_json("/resources", {"name": "r"}, idempotency_key="setup")
    return str(data["id"])


async def test_success_returns_an_immutable_response() -> None:
    async with FakeProvider() as provider, ApiClient(provider.url) as client:
        rid = await resource_id(client)
        resp = await client.get(f"/resources/{rid}")
        assert resp.status_code == 200 and resp.attempts == 1 and resp.ok
        assert resp.json()["name"] == "r" and '"name":"r"' in resp.text
        assert resp.elapsed > 0 and resp.url.endswith(f"/resources/{rid}")
        with pytest.raises(AttributeError):
            resp.status_code = 500  # type: ignore[misc]


@pytest.mark.parametrize(("fault", "status"), [("status_500", 500), ("status_502", 502)])
async def test_5xx_is_retried_with_backoff_then_raises_server_error(
    fault: str, status: int
) -> None:
    clock = FakeClock()
    async with FakeProvider(only(GET_RES, **{fault: 1.0})) as provider:
        async with ApiClient(provider.url, clock=clock, breaker=None) as client:
            with pytest.raises(ServerError) as info:
                await client.get("/resources/r1")
        assert requests_on(provider, GET_RES) == 3
    error = info.value
    assert error.status == status and error.attempts == 3 and error.elapsed > 0
    assert "injected" in error.body_excerpt
    assert len(clock.slept) == 2 and all(0 <= s <= 10.0 for s in clock.slept)


async def test_503_with_retry_after_waits_that_long() -> None:
    clock = FakeClock()
    async with (
        FakeProvider(only(GET_RES, status_503=1.0, retry_after_s=2.5)) as provider,
        ApiClient(provider.url, clock=clock, breaker=None) as client,
    ):
        with pytest.raises(ServerError) as info:
            await client.get("/resources/r1")
    assert info.value.retry_after == 2.5
    assert clock.slept == [2.5, 2.5]


async def test_429_waits_for_retry_after_then_succeeds_once_the_limit_lifts() -> None:
    clock = FakeClock()
    plan = only(POST_RES, status_429=1.0, retry_after_s=3)
    async with FakeProvider(plan) as provider, ApiClient(provider.url, clock=clock) as client:
        with pytest.raises(ClientError) as info:
            await client.post("/resources", json={}, idempotency_key="k429")
        assert info.value.status == 429 and info.value.attempts == 3
        assert clock.slept == [3.0, 3.0]
        assert client.settings.default_policy.pipeline.breaker is not None
        assert client.settings.default_policy.pipeline.breaker.state is CircuitState.CLOSED


async def test_429_retry_after_as_http_date_is_honoured() -> None:
    clock = FakeClock(start=time.time())
    plan = only(GET_RES, status_429=1.0, retry_after_s=6, retry_after_http_date=True)
    retry = Retry(max_attempts=2)
    async with (
        FakeProvider(plan) as provider,
        ApiClient(provider.url, clock=clock, retry=retry) as client,
    ):
        with pytest.raises(ClientError):
            await client.get("/resources/r1")
    # The date has one-second resolution, so the wait is 5 to 6 seconds.
    assert len(clock.slept) == 1 and 4.5 <= clock.slept[0] <= 6.5


async def test_retry_after_longer_than_the_deadline_fails_at_once() -> None:
    clock = FakeClock()
    plan = only(GET_RES, status_429=1.0, retry_after_s=60)
    async with FakeProvider(plan) as provider:
        async with ApiClient(provider.url, clock=clock, deadline=10) as client:
            with pytest.raises(RetryAfterTooLong) as info:
                await client.get("/resources/r1")
        assert requests_on(provider, GET_RES) == 1
    assert clock.slept == []
    assert isinstance(info.value.__cause__, ClientError) and info.value.__cause__.status == 429
    assert info.value.retry_after == 60


async def test_4xx_is_never_retried_and_never_trips_the_breaker() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_ms=30000)
    async with FakeProvider() as provider:
        async with ApiClient(provider.url, clock=FakeClock(), breaker=breaker) as client:
            for _ in range(6):
                with pytest.raises(ClientError) as info:
                    await client.get("/resources/missing")
                assert info.value.status == 404 and info.value.attempts == 1
            with pytest.raises(ClientError) as bad:
                await client.post("/v1/payments", json={"amount": -1}, idempotency_key="bad")
        assert requests_on(provider, GET_RES) == 6
        assert requests_on(provider, "POST /v1/payments") == 1
    assert bad.value.status == 400 and "amount" in bad.value.body_excerpt
    assert breaker.state is CircuitState.CLOSED and breaker.failure_count == 0
    assert breaker.is_failure is None  # the client's rule sits on a view, not on this object


async def test_breaker_opens_on_5xx_and_stops_sending() -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_ms=30000)
    async with FakeProvider(only(GET_RES, status_503=1.0, retry_after_s=0)) as provider:
        async with ApiClient(provider.url, retry=None, breaker=breaker) as client:
            for _ in range(3):
                with pytest.raises(ServerError):
                    await client.get("/resources/r1")
            with pytest.raises(CircuitOpenError) as info:
                await client.get("/resources/r1")
        assert requests_on(provider, GET_RES) == 3
    assert breaker.state is CircuitState.OPEN and info.value.retry_after > 0


async def test_connection_reset_is_retried_then_raises_connection_error() -> None:
    clock = FakeClock()
    plan = FaultPlan(seed=1, default=RouteFaults(reset=1.0))
    async with FakeProvider(plan) as provider:
        async with ApiClient(provider.url, clock=clock, breaker=None) as client:
            with pytest.raises(ApiConnectionError) as info:
                await client.get("/resources/r1")
            with pytest.raises(ApiConnectionError) as unsafe:
                await client.post("/resources", json={})
        # aiohttp itself resends an idempotent request once when a pooled connection was reset.
        assert 3 <= requests_on(provider, GET_RES) <= 6
        assert requests_on(provider, POST_RES) == 1
    assert info.value.attempts == 3 and info.value.status is None
    assert unsafe.value.attempts == 1 and len(clock.slept) == 2


async def test_body_cut_mid_way_is_a_retried_connection_error() -> None:
    async with FakeProvider() as provider, ApiClient(provider.url, clock=FakeClock()) as client:
        rid = await resource_id(client)
        provider.set_plan(only(GET_RES, truncate=1.0))
        with pytest.raises(ApiConnectionError) as info:
            await client.get(f"/resources/{rid}")
        assert "ClientPayloadError" in str(info.value) and info.value.attempts == 3


async def test_invalid_json_is_retried_by_get_json_and_recovers() -> None:
    clock = FakeClock()
    async with FakeProvider() as provider, ApiClient(provider.url, clock=clock) as client:
        rid = await resource_id(client)
        provider.set_plan(only(GET_RES, invalid_json=1.0))
        with pytest.raises(InvalidResponseError) as info:
            await client.get_json(f"/resources/{rid}")
        assert info.value.status == 200 and info.value.attempts == 3
        raw = await client.get(f"/resources/{rid}")
        assert raw.status_code == 200 and raw.attempts == 1
        provider.set_plan(only(GET_RES, invalid_json=0.5))
        data = await client.get_json(f"/resources/{rid}")
        assert data["id"] == rid


async def test_hanging_endpoint_ends_at_the_deadline() -> None:
    async with (
        FakeProvider(only(GET_RES, hang=1.0, hang_s=10)) as provider,
        ApiClient(provider.url, deadline=0.3) as client,
    ):
        started = time.monotonic()
        with pytest.raises(ApiTimeout) as info:
            await client.get("/resources/r1")
        took = time.monotonic() - started
    assert 0.28 <= took <= 0.6, took  # a 10 s hang, cut at the 0.3 s deadline
    assert isinstance(info.value, DeadlineExceeded)
    assert info.value.elapsed == pytest.approx(took, abs=0.05)


async def test_each_attempt_timeout_shrinks_to_the_time_left() -> None:
    transport = RecordingTransport()
    plan = only(GET_RES, hang=1.0, hang_s=10)
    async with FakeProvider(plan) as provider:
        async with ApiClient(
            provider.url,
            deadline=0.5,
            read_timeout=0.2,
            retry=Retry(max_attempts=10, backoff=Constant(0.0)),
            transport=transport,
            breaker=None,
        ) as client:
            started = time.monotonic()
            with pytest.raises(ApiTimeout):
                await client.get("/resources/r1")
            took = time.monotonic() - started
        await transport.aclose()
    reads = [timeouts.read for _, timeouts in transport.sent]
    assert len(reads) == 3 and reads[0] == reads[1] == 0.2
    assert all(timeouts.connect <= 0.5 for _, timeouts in transport.sent)
    assert reads[-1] < 0.2  # the last attempt only had what was left of the deadline
    assert took <= 0.8


async def test_post_without_a_key_is_sent_once_with_a_key_retried() -> None:
    clock = FakeClock()
    async with (
        FakeProvider(only(POST_RES, status_503=1.0, retry_after_s=0)) as provider,
        ApiClient(provider.url, clock=clock, breaker=None) as client,
    ):
        with pytest.raises(ServerError) as unkeyed:
            await client.post("/resources", json={"a": 1})
        assert requests_on(provider, POST_RES) == 1
        with pytest.raises(ServerError) as keyed:
            await client.post("/resources", json={"a": 1}, idempotency_key="res-1")
        assert requests_on(provider, POST_RES) == 4
    assert unkeyed.value.attempts == 1 and keyed.value.attempts == 3


async def test_auto_idempotency_sends_one_key_on_every_attempt_and_charges_once() -> None:
    transport = RecordingTransport()
    plan = only("POST /v1/payments", after_500=1.0)
    body = {"amount": 500, "currency": "EUR", "customer_id": "c1", "metadata": {"order_id": "a1"}}
    async with FakeProvider(plan) as provider:
        async with ApiClient(
            provider.url, clock=FakeClock(), transport=transport, breaker=None
        ) as client:
            client.route("POST", "/v1/*", idempotency="auto")
            with pytest.raises(ServerError):
                await client.post("/v1/payments", json=body)
            await transport.aclose()
        counters = provider.counters()
    keys = {headers["Idempotency-Key"] for headers, _ in transport.sent}
    assert len(transport.sent) == 3 and len(keys) == 1
    assert counters["charges_by_order"] == {"a1": 1}
    assert counters["charges_by_key"] == {keys.pop(): 1}


async def test_retry_budget_and_open_breaker_errors_pass_through_unchanged() -> None:
    budget = RetryBudget(ratio=0.0, min_retries_per_s=0.0)
    retry = Retry(max_attempts=5, budget=budget)
    async with FakeProvider(only(GET_RES, status_500=1.0)) as provider:
        async with ApiClient(provider.url, retry=retry, clock=FakeClock()) as client:
            with pytest.raises(RetryBudgetExhausted) as info:
                await client.get("/resources/r1")
        assert requests_on(provider, GET_RES) == 1
    assert isinstance(info.value.__cause__, ServerError)
