"""500 payments through a 30% fault plan with faults after the charge: one charge per order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from seawall.http import ApiClient, CallRecord
from seawall.resilience import Constant, Retry, gather_settled
from seawall.testing import FakeClock, FakeProvider, FaultPlan, PaymentOutcomes, RouteFaults

PAY = "POST /v1/payments"
ORDERS = 500

FLAKY = RouteFaults(
    status_500=0.06,
    status_503=0.05,
    reset=0.04,
    after_500=0.06,
    after_reset=0.05,
    truncate=0.02,
    after_hang=0.02,
    hang_s=5.0,
)
"""30% of requests fail, and over half of those failures strike after the charge is stored."""


def charge_body(order: int) -> dict[str, object]:
    """The guide's payment request for one order."""
    return {
        "amount": 1000 + order,
        "currency": "EUR",
        "customer_id": f"cus_{order % 7}",
        "metadata": {"order_id": f"ord-{order}"},
    }


async def test_faulty_gateway_charges_every_order_exactly_once() -> None:
    plan = FaultPlan(seed=42, routes={PAY: FLAKY}, payments=PaymentOutcomes(fail_rate=0.1))
    calls: list[CallRecord] = []
    async with FakeProvider(plan) as provider:
        async with ApiClient(
            provider.url,
            clock=FakeClock(),
            # One FakeClock adds up the backoff sleeps of all 32 concurrent calls, which would
            # eat any total deadline; hangs are bounded by the real read timeout instead.
            deadline=None,
            read_timeout=0.3,
            retry=Retry(max_attempts=8),
            breaker=None,
            on_call=[calls.append],
        ) as client:

            def charge(order: int) -> Callable[[], asyncio.Future[object]]:
                return lambda: client.post_json(  # type: ignore[return-value]
                    "/v1/payments", charge_body(order), idempotency_key=f"ord-{order}-charge"
                )

            settled = await gather_settled(*(charge(i) for i in range(ORDERS)), limit=32)
            # An order whose call gave up is submitted again later with the same key, as a
            # durable outbound job would be: the gateway must still charge it only once.
            failed = [outcome.index for outcome in settled.outcomes if not outcome.ok]
            resubmitted = await gather_settled(*(charge(i) for i in failed), limit=32)
        counters = provider.counters()

    assert len(failed) < ORDERS * 0.01
    assert resubmitted.errors == []
    assert len(settled.values) + len(resubmitted.values) == ORDERS
    assert counters["duplicate_charges"] == 0
    assert counters["charges_by_order"] == {f"ord-{i}": 1 for i in range(ORDERS)}
    assert set(counters["charges_by_key"].values()) == {1}
    outcomes = counters["requests"][PAY]
    after_charge = sum(outcomes.get(k, 0) for k in ("after_500", "after_reset", "after_hang"))
    assert after_charge > 20 and outcomes.get("replayed", 0) > 20
    assert sum(record.attempts for record in calls) > ORDERS * 1.2
    statuses = {value["status"] for value in settled.values + resubmitted.values}  # type: ignore[index]
    assert statuses == {"succeeded", "failed"}


async def test_naive_retries_without_a_key_charge_twice_under_the_same_plan() -> None:
    """The contrast: a plain retry loop with no Idempotency-Key duplicates charges."""
    plan = FaultPlan(seed=42, routes={PAY: RouteFaults(after_500=0.3)})
    async with FakeProvider(plan) as provider, aiohttp.ClientSession() as http:
        for order in range(40):
            for _ in range(5):
                async with http.post(
                    f"{provider.url}/v1/payments", json=charge_body(order)
                ) as resp:
                    if resp.status == 200:
                        break
        counters = provider.counters()
    assert counters["duplicate_charges"] > 0


async def test_retries_are_paced_by_backoff_on_the_injected_clock() -> None:
    clock = FakeClock()
    plan = FaultPlan(seed=1, routes={PAY: RouteFaults(status_503=1.0, retry_after_s=0)})
    async with FakeProvider(plan) as provider:
        retry = Retry(max_attempts=4, backoff=Constant(0.25))
        async with ApiClient(provider.url, clock=clock, retry=retry, breaker=None) as client:
            result = await gather_settled(
                client.post_json("/v1/payments", charge_body(1), idempotency_key="o1-charge"),
                client.post_json("/v1/payments", charge_body(2), idempotency_key="o2-charge"),
                limit=2,
            )
        counters = provider.counters()
    assert len(result.errors) == 2 and result.values == []
    assert clock.slept == [0.25] * 6
    assert counters["charges"] == 0 and counters["requests"][PAY] == {"status_503": 8}
