"""PaymentGatewayService against the fake gateway over real sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from seawall.commands import CommandService, InvokeContext
from seawall.jobs import Queue, Worker
from seawall.payments import (
    CHARGE_QUEUE,
    GatewaySettings,
    PaymentGatewayService,
    PaymentRequest,
    PaymentRequestError,
    register_payment_webhooks,
)
from seawall.store import Store, open_store
from seawall.testing import FakeProvider
from seawall.testing.fake_plan import FaultPlan, Outage, RouteFaults
from seawall.testing.fake_webhooks import sign_hmac_timestamp
from seawall.webhooks import GUIDE_PATH, Router, Webhooks, guide_endpoint, list_events

CTX = InvokeContext(headers={"x-tenant-code": "Shop1"}, claims={"sub": "u1"}, request_id="r1")
SECRET = "whsec_service_test"


@pytest_asyncio.fixture
async def real_store(store_url: str) -> AsyncIterator[Store]:
    """A migrated store on each engine with the real clock (the gateway calls are real)."""
    store = open_store(store_url)
    await store.migrate()
    yield store
    if store.engine == "postgresql":
        await store.drop_schema()  # type: ignore[attr-defined]
    else:
        await store.close()


def settings(url: str, **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "url": url,
        "api_key": "literal:sk_test_literal",
        "backoff_base_s": 0.001,
        "backoff_cap_s": 0.01,
        "timeout_s": 2.0,
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


def order(order_id: str = "o-1", amount: int = 1500) -> PaymentRequest:
    return PaymentRequest(order_id=order_id, amount=amount, currency="usd", customer_id="cus_1")


async def test_faults_after_the_charge_never_charge_twice_and_repeats_are_versions(
    real_store: Store,
) -> None:
    plan = FaultPlan(seed=4, default=RouteFaults(after_500=0.3, after_reset=0.3))
    with FakeProvider(plan) as provider:
        service = PaymentGatewayService(
            settings(provider.url, max_attempts=8, breaker_failures=50), CommandService(real_store)
        )
        async with service:
            first = await service.process_payment(order(), invoke_context=CTX)
            again = await service.process_payment(order(), invoke_context=CTX)
        counters = provider.counters()
    assert first.status == "success" and first.transaction_id.startswith("pay_")
    assert again == first
    assert counters["charges_by_key"] == {"o-1-charge": 1}
    assert counters["duplicate_charges"] == 0
    assert sum(counters["requests"]["POST /v1/payments"].values()) > 2  # faults struck
    record = await service.get_payment("o-1", invoke_context=CTX)
    assert record is not None and record.status == "success"
    assert record.tenant == "shop1" and record.transaction_id == first.transaction_id
    first_version = await service.commands.get_command("PAYMENT#shop1", "ORDER#o-1@1")
    assert first_version is not None and first_version.attributes["status"] == "success"
    assert service.stats.retries > 0 and service.stats.calls == 2


async def test_unknown_outcome_is_recorded_pending_then_settles(real_store: Store) -> None:
    down = FaultPlan(default=RouteFaults(outages=(Outage(0, 3600, "status_503"),)))
    with FakeProvider(down) as provider:
        service = PaymentGatewayService(
            settings(provider.url, breaker_failures=2), CommandService(real_store)
        )
        async with service:
            unknown = await service.process_payment(order(), invoke_context=CTX)
            assert unknown.status == "pending" and unknown.transaction_id == ""
            assert "outcome unknown" in unknown.message or "not sent" in unknown.message
            pending = await service.get_payment("o-1", invoke_context=CTX)
            assert pending is not None and pending.status == "pending"
            provider.set_plan(FaultPlan())
            service.client.settings.default_policy.pipeline.breaker.reset()  # type: ignore[union-attr]
            settled = await service.process_payment(order(), invoke_context=CTX)
        assert provider.counters()["charges_by_key"] == {"o-1-charge": 1}
    assert settled.status == "success"
    assert service.stats.breaker_trips == 1
    record = await service.get_payment("o-1", invoke_context=CTX)
    assert record is not None and record.status == "success" and record.version == 2


async def test_a_conflicting_second_request_is_refused_and_the_record_stays_right(
    real_store: Store,
) -> None:
    with FakeProvider() as provider:
        async with PaymentGatewayService(
            settings(provider.url), CommandService(real_store)
        ) as service:
            paid = await service.process_payment(order(amount=1500), invoke_context=CTX)
            other = await service.process_payment(order(amount=9999), invoke_context=CTX)
            record = await service.get_payment("o-1", invoke_context=CTX)
    assert paid.status == "success"
    assert other.status == "failed" and "422" in other.message
    assert record is not None and record.status == "success" and record.attributes["amount"] == 1500


async def test_submit_payment_is_an_outbox_and_the_worker_charges_once(real_store: Store) -> None:
    with FakeProvider(FaultPlan(seed=2, default=RouteFaults(after_reset=0.5))) as provider:
        queue = Queue(real_store)
        service = PaymentGatewayService(
            settings(provider.url), CommandService(real_store), queue=queue, retry_delay_s=0.01
        )
        with pytest.raises(RuntimeError, match="order rejected"):
            async with real_store.transaction() as tx:
                await service.submit_payment(order("o-rolled-back"), invoke_context=CTX, tx=tx)
                raise RuntimeError("order rejected")
        async with real_store.transaction() as tx:
            job = await service.submit_payment(order("o-2"), invoke_context=CTX, tx=tx)
        assert job is not None
        assert await service.submit_payment(order("o-2"), invoke_context=CTX) is None  # dedup
        worker = Worker(real_store, queue=queue, poll_interval=0.02, visibility_timeout=10)
        service.register(worker)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            await worker.run_until_idle()
            stats = {s.queue: s for s in await queue.stats()}
            charge = stats[CHARGE_QUEUE]
            if charge.ready + charge.delayed + charge.in_flight == 0:
                break
        await service.aclose()
        counters = provider.counters()
    assert counters["charges_by_order"] == {"o-2": 1}
    assert await service.get_payment("o-rolled-back", invoke_context=CTX) is None
    record = await service.get_payment("o-2", invoke_context=CTX)
    assert record is not None and record.status == "success"
    assert record.attributes["charge_receives"] >= 1


def event(event_id: str, kind: str, data: dict[str, object], sequence: int) -> bytes:
    return json.dumps(
        {"id": event_id, "type": kind, "sequence": sequence, "created": time.time(), "data": data}
    ).encode()


async def test_webhooks_out_of_order_never_move_a_payment_backwards(real_store: Store) -> None:
    queue = Queue(real_store)
    service = PaymentGatewayService(
        settings("http://127.0.0.1:9"), CommandService(real_store), queue=queue
    )
    router = Router()
    register_payment_webhooks(router, service)
    webhooks = Webhooks(real_store, [guide_endpoint([SECRET])], router=router, queue=queue)
    metadata = {"order_id": "o-3", "tenant_code": "shop1"}
    payment = {
        "id": "pay_9",
        "status": "succeeded",
        "amount": 800,
        "currency": "usd",
        "customer_id": "c",
        "metadata": metadata,
    }
    bodies = [
        event(
            "evt_2",
            "refund.created",
            {"id": "re_1", "payment_id": "pay_9", "amount": 800, "metadata": metadata},
            2,
        ),
        event("evt_1", "payment.completed", payment, 1),
        event("evt_1", "payment.completed", payment, 1),  # a duplicate delivery
        event("evt_3", "payment.completed", {"id": "pay_x", "metadata": {}}, 3),
    ]
    transport = httpx.ASGITransport(app=webhooks.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://seawall") as http:
        answers = []
        for body in bodies:
            headers = sign_hmac_timestamp(body, SECRET, int(time.time()))
            answers.append(await http.post(GUIDE_PATH, content=body, headers=headers))
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert answers[2].json() == {"received": True, "duplicate": True}
    worker = Worker(real_store, queue=queue, poll_interval=0.02)
    webhooks.attach(worker)
    service.register(worker)
    for _ in range(3):
        await worker.run_until_idle()
    record = await service.get_payment("o-3", invoke_context=CTX)
    assert record is not None
    assert record.status == "refunded" and record.attributes["amount_refunded"] == 800
    assert record.transaction_id == "pay_9"
    assert sorted(record.attributes["event_ids"]) == ["evt_1", "evt_2"]
    failed = await list_events(real_store, status="failed")
    assert [e.event_id for e in failed] == ["evt_3"]
    await service.aclose()


async def test_a_payment_needs_a_tenant(real_store: Store) -> None:
    service = PaymentGatewayService(settings("http://127.0.0.1:9"), CommandService(real_store))
    with pytest.raises(PaymentRequestError, match="x-tenant-code"):
        await service.process_payment(order(), invoke_context=InvokeContext())
    await service.aclose()
