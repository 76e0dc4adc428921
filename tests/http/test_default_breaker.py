"""ApiClient's default breaker fits busy clients: bursts pass, a sustained outage still trips it."""

from __future__ import annotations

import pytest

from seawall.http import ApiClient, ServerError
from seawall.http.policy import default_breaker
from seawall.resilience import CircuitBreaker, CircuitOpenError, CircuitState, gather_settled
from seawall.testing import FakeClock, FakeProvider, FaultPlan, RouteFaults

PAY = "POST /v1/payments"


def charge(order: int) -> dict[str, object]:
    return {
        "amount": 1000 + order,
        "currency": "JPY",
        "customer_id": f"cus_{order % 7}",
        "metadata": {"order_id": f"ord-{order}"},
    }


async def test_a_burst_of_failed_first_attempts_completes_with_defaults() -> None:
    """40 concurrent payments, each first attempt 500s after the charge: all complete, once."""
    plan = FaultPlan(seed=3, routes={PAY: RouteFaults(after_500=1.0, faulty_requests_per_key=1)})
    async with FakeProvider(plan) as provider, ApiClient(provider.url, clock=FakeClock()) as client:
        settled = await gather_settled(
            *(
                client.post_json("/v1/payments", charge(i), idempotency_key=f"ord-{i}-charge")
                for i in range(40)
            ),
            limit=40,
        )
        counters = provider.counters()
        breaker = client.settings.default_policy.pipeline.breaker
    assert settled.errors == [] and len(settled.values) == 40
    assert counters["duplicate_charges"] == 0
    assert counters["charges_by_order"] == {f"ord-{i}": 1 for i in range(40)}
    assert counters["requests"][PAY]["after_500"] == 40
    assert breaker is not None and breaker.state is CircuitState.CLOSED


def test_the_guides_consecutive_breaker_opens_on_that_burst() -> None:
    """The contrast, and the option: `CircuitBreaker(failure_threshold=5)` trips after 5."""
    guide = CircuitBreaker(failure_threshold=5, clock=FakeClock())
    for _ in range(5):
        ticket = guide.acquire()
        guide.on_error(ticket, ConnectionError("503"))
    assert guide.state is CircuitState.OPEN


def outage_at_100_per_second(breaker: CircuitBreaker, clock: FakeClock, seconds: float) -> int:
    """Fail one call every 10 ms until the breaker rejects one; return the calls made."""
    calls = 0
    while clock.monotonic() < seconds:
        try:
            ticket = breaker.acquire()
        except CircuitOpenError:
            return calls
        calls += 1
        breaker.on_error(ticket, ConnectionError("down"))
        clock.advance(0.01)
    return calls


def test_a_sustained_outage_opens_the_default_breaker_within_a_second() -> None:
    clock = FakeClock()
    breaker = default_breaker("http:gateway", clock)
    start = clock.monotonic()
    calls = outage_at_100_per_second(breaker, clock, start + 5.0)
    assert breaker.state is CircuitState.OPEN
    assert clock.monotonic() - start <= 1.0 and calls <= 100


@pytest.mark.parametrize("failure_rate", [0.2, 0.3])
def test_a_partly_failing_dependency_does_not_flap_it(failure_rate: float) -> None:
    clock = FakeClock()
    breaker = default_breaker("http:gateway", clock)
    every = round(1 / failure_rate)
    for n in range(3000):  # 30 s at 100 calls/s
        ticket = breaker.acquire()
        if n % every == 0:
            breaker.on_error(ticket, ConnectionError("503"))
        else:
            breaker.on_success(ticket)
        clock.advance(0.01)
    assert breaker.state is CircuitState.CLOSED


async def test_a_post_without_a_key_says_why_it_was_not_retried() -> None:
    plan = FaultPlan(seed=1, routes={PAY: RouteFaults(status_503=1.0, retry_after_s=0)})
    async with FakeProvider(plan) as provider, ApiClient(provider.url, clock=FakeClock()) as client:
        with pytest.raises(ServerError) as caught:
            await client.post_json("/v1/payments", charge(1))
        keyed = await gather_settled(
            client.post_json("/v1/payments", charge(2), idempotency_key="o2-charge")
        )
    assert caught.value.attempts == 1
    assert "not retried: a POST without an Idempotency-Key" in str(caught.value)
    assert "not retried" not in str(keyed.errors[0])
