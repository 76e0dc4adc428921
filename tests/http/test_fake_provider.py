"""FakeProvider over real sockets: gateway idempotency, every fault kind on the wire, counters."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import httpx
import pytest

from seawall.testing import FakeProvider
from seawall.testing.fake_plan import (
    FaultPlan,
    FaultPlanError,
    Latency,
    Outage,
    PaymentOutcomes,
    RouteFaults,
)
from seawall.testing.fake_provider import ProviderEvent

PAY = "POST /v1/payments"


def payment(order: str, amount: int = 1000) -> dict[str, object]:
    """A valid payment request body."""
    return {
        "amount": amount,
        "currency": "EUR",
        "customer_id": "cus_1",
        "metadata": {"order_id": order},
    }


def only(route: str, **faults: object) -> FaultPlan:
    """A plan with faults on one route only."""
    return FaultPlan(seed=7, routes={route: RouteFaults(**faults)})  # type: ignore[arg-type]


def test_payment_idempotency_replays_and_rejects_a_different_body() -> None:
    with FakeProvider() as provider, httpx.Client(base_url=provider.url) as http:
        first = http.post("/v1/payments", json=payment("o1"), headers={"Idempotency-Key": "k1"})
        again = http.post("/v1/payments", json=payment("o1"), headers={"Idempotency-Key": "k1"})
        other = http.post(
            "/v1/payments", json=payment("o1", 999), headers={"Idempotency-Key": "k1"}
        )
        assert first.status_code == 200 and first.json()["status"] == "succeeded"
        assert again.status_code == 200 and again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert other.status_code == 422
        fetched = http.get(f"/v1/payments/{first.json()['id']}")
        assert fetched.json()["amount"] == 1000
        counters = provider.counters()
    assert counters["charges_by_key"] == {"k1": 1}
    assert counters["duplicate_charges"] == 0
    assert counters["requests"][PAY] == {"200": 1, "replayed": 1, "422": 1}


async def test_concurrent_request_with_a_key_in_flight_gets_409() -> None:
    plan = only(PAY, latency=Latency(base_ms=300))
    async with FakeProvider(plan) as provider, aiohttp.ClientSession() as http:

        async def send() -> int:
            async with http.post(
                f"{provider.url}/v1/payments", json=payment("o2"), headers={"Idempotency-Key": "k2"}
            ) as resp:
                return resp.status

        first = asyncio.create_task(send())
        await asyncio.sleep(0.1)
        second = await send()
        assert second == 409
        assert await first == 200
        assert provider.counters()["charges_by_key"] == {"k2": 1}


def test_payments_without_keys_for_one_order_count_as_duplicates() -> None:
    with FakeProvider() as provider, httpx.Client(base_url=provider.url) as http:
        http.post("/v1/payments", json=payment("o3"))
        http.post("/v1/payments", json=payment("o3"))
        assert provider.counters()["duplicate_charges"] == 1


def test_invalid_payment_requests_get_400_and_store_nothing() -> None:
    with FakeProvider() as provider, httpx.Client(base_url=provider.url) as http:
        assert http.post("/v1/payments", content=b"{nope").status_code == 400
        bad_amount = {**payment("o4"), "amount": -5}
        assert http.post("/v1/payments", json=bad_amount).status_code == 400
        bad_currency = {**payment("o4"), "currency": "euro"}
        resp = http.post("/v1/payments", json=bad_currency)
        assert resp.status_code == 400 and "currency" in resp.json()["error"]["message"]
        assert provider.counters()["charges"] == 0


def test_business_outcomes_are_seeded_and_amount_based() -> None:
    plan = FaultPlan(seed=3, payments=PaymentOutcomes(fail_rate=0.5, fail_over_amount=50_000))
    statuses = []
    for _ in range(2):
        with FakeProvider(plan) as provider, httpx.Client(base_url=provider.url) as http:
            statuses.append(
                [
                    http.post("/v1/payments", json=payment(f"o{i}")).json()["status"]
                    for i in range(20)
                ]
            )
            big = http.post("/v1/payments", json=payment("big", amount=60_000)).json()
            assert big["status"] == "failed"
    assert statuses[0] == statuses[1]
    assert {"succeeded", "failed"} <= set(statuses[0])


def test_refunds_and_events_reach_sinks() -> None:
    delivered: list[ProviderEvent] = []

    class Sink:
        async def deliver(self, event: ProviderEvent) -> None:
            delivered.append(event)

    with (
        FakeProvider(event_sinks=[Sink()]) as provider,
        httpx.Client(base_url=provider.url) as http,
    ):
        pay = http.post("/v1/payments", json=payment("o5")).json()
        too_much = http.post("/v1/refunds", json={"payment_id": pay["id"], "amount": 5000})
        assert too_much.status_code == 400
        refund = http.post("/v1/refunds", json={"payment_id": pay["id"], "amount": 400})
        assert refund.status_code == 200 and refund.json()["amount"] == 400
        assert http.post("/v1/refunds", json={"payment_id": "pay_x"}).status_code == 404
        events = provider.events()
    assert [e.type for e in events] == ["payment.completed", "refund.created"]
    assert [e.sequence for e in delivered] == [1, 2]
    assert delivered[1].to_dict()["data"]["payment_id"] == pay["id"]


def test_resources_create_and_fetch_and_404() -> None:
    with FakeProvider() as provider, httpx.Client(base_url=provider.url) as http:
        created = http.post("/resources", json={"name": "a"})
        assert created.status_code == 201
        rid = created.json()["id"]
        assert http.get(f"/resources/{rid}").json()["name"] == "a"
        assert http.get("/resources/res_missing").status_code == 404


@pytest.mark.parametrize(
    ("fault", "status"), [("status_500", 500), ("status_502", 502), ("status_503", 503)]
)
def test_status_faults(fault: str, status: int) -> None:
    with FakeProvider(only("POST /resources", **{fault: 1.0})) as provider:
        with httpx.Client(base_url=provider.url) as http:
            assert http.post("/resources", json={}).status_code == status
        assert provider.counters()["resources"] == 0


def test_429_carries_retry_after_in_seconds_or_as_http_date() -> None:
    with FakeProvider(only("POST /resources", status_429=1.0, retry_after_s=7)) as provider:
        resp = httpx.post(f"{provider.url}/resources", json={})
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
        provider.set_plan(
            only("POST /resources", status_429=1.0, retry_after_s=120, retry_after_http_date=True)
        )
        resp = httpx.post(f"{provider.url}/resources", json={})
        assert resp.headers["Retry-After"].endswith("GMT")


def test_reset_truncate_and_invalid_json_on_the_wire() -> None:
    with FakeProvider(only("GET /resources/{id}", reset=1.0)) as provider:
        rid = httpx.post(f"{provider.url}/resources", json={"n": 1}).json()["id"]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{provider.url}/resources/{rid}")
        provider.set_plan(only("GET /resources/{id}", truncate=1.0))
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{provider.url}/resources/{rid}")
        provider.set_plan(only("GET /resources/{id}", invalid_json=1.0))
        resp = httpx.get(f"{provider.url}/resources/{rid}")
        assert resp.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            resp.json()
        outcomes = provider.counters()["requests"]["GET /resources/{id}"]
    assert outcomes == {"reset": 1, "truncate": 1, "invalid_json": 1}


def test_after_charge_fault_stores_the_charge_and_a_retry_replays_it() -> None:
    with FakeProvider(only(PAY, after_500=1.0)) as provider:
        with httpx.Client(base_url=provider.url) as http:
            key = {"Idempotency-Key": "o6-charge"}
            assert http.post("/v1/payments", json=payment("o6"), headers=key).status_code == 500
            provider.set_plan(FaultPlan())
            replay = http.post("/v1/payments", json=payment("o6"), headers=key)
            assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
        counters = provider.counters()
    assert counters["charges_by_key"] == {"o6-charge": 1}
    assert counters["requests"][PAY] == {"after_500": 1, "replayed": 1}


def test_hang_holds_the_answer_past_the_client_timeout() -> None:
    with FakeProvider(only("GET /resources/{id}", hang=1.0, hang_s=5)) as provider:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{provider.url}/resources/r1", timeout=0.2)
        assert time.monotonic() - started < 1.0


def test_outage_window_is_time_based() -> None:
    plan = only("GET /resources/{id}", outages=(Outage(start_s=0.0, end_s=0.3),))
    with FakeProvider(plan) as provider, httpx.Client(base_url=provider.url) as http:
        assert http.get("/resources/r1").status_code == 503
        time.sleep(0.35)
        assert http.get("/resources/r1").status_code == 404


def test_fault_draws_are_deterministic_per_seed_and_key() -> None:
    plan = FaultPlan(seed=11, default=RouteFaults(status_500=0.3, status_503=0.3))
    runs = []
    for _ in range(2):
        with FakeProvider(plan) as provider, httpx.Client(base_url=provider.url) as http:
            runs.append(
                [
                    http.post(
                        "/resources", json={}, headers={"Idempotency-Key": f"k{i}"}
                    ).status_code
                    for i in range(30)
                ]
            )
    assert runs[0] == runs[1]
    assert {201, 500, 503} <= set(runs[0])


def test_plan_and_reset_over_http_and_bad_plans_are_rejected() -> None:
    with FakeProvider() as provider, httpx.Client(base_url=provider.url) as http:
        http.post("/resources", json={})
        plan = FaultPlan.flaky(0.5, seed=2)
        assert http.post("/__plan", json=plan.to_dict()).status_code == 200
        assert FaultPlan.from_dict(http.get("/__plan").json()) == plan
        bad = http.post("/__plan", json={"default": {"status_500": 2.0}})
        assert bad.status_code == 400 and "status_500" in bad.json()["error"]["message"]
        assert http.post("/__reset").status_code == 200
        assert http.get("/__counters").json()["total_requests"] == 0
    with pytest.raises(FaultPlanError):
        RouteFaults(status_500=0.6, status_503=0.6)
    with pytest.raises(FaultPlanError):
        Outage(start_s=5, end_s=1)
