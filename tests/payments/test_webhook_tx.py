"""Payment webhooks merge in the webhook's own transaction, on SQLite and PostgreSQL.

The record's new version, the inbox's processed mark and the job's ack commit together; a version
conflict rolls all of it back and the worker retries the webhook job with backoff.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from seawall.commands import CommandModel, CommandService, InvokeContext
from seawall.jobs import Queue, Worker
from seawall.payments import (
    GatewaySettings,
    PaymentGatewayService,
    PaymentUpdate,
    register_payment_webhooks,
)
from seawall.resilience.backoff import ExponentialJitter
from seawall.store import Store, Tx, open_store
from seawall.testing.fake_webhooks import sign_hmac_timestamp
from seawall.webhooks import GUIDE_PATH, Router, Webhooks, guide_endpoint, list_events

CTX = InvokeContext(headers={"x-tenant-code": "shop1"}, claims={"sub": "u1"}, request_id="r1")
SECRET = "whsec_webhook_tx_test"
METADATA = {"order_id": "o-7", "tenant_code": "shop1"}
PAYMENT = {
    "id": "pay_7",
    "status": "succeeded",
    "amount": 900,
    "currency": "usd",
    "customer_id": "c",
    "metadata": METADATA,
}


@pytest_asyncio.fixture
async def real_store(store_url: str) -> AsyncIterator[Store]:
    """A migrated store on each engine with the real clock (webhooks are timestamped)."""
    store = open_store(store_url)
    await store.migrate()
    yield store
    if store.engine == "postgresql":
        await store.drop_schema()  # type: ignore[attr-defined]
    else:
        await store.close()


class RacedCommands(CommandService):
    """A command service where another writer lands a version right after the first tx read.

    The competing write goes into the same transaction (SQLite has one writer, so a second
    transaction could not interleave); it stands for a concurrent writer that committed between
    the handler's read and its publish, and it rolls back with the handler's transaction.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.races = 1

    async def get_latest_item(
        self, pk: str, sk: str, *, tx: Tx | None = None
    ) -> CommandModel | None:
        latest = await super().get_latest_item(pk, sk, tx=tx)
        if tx is not None and latest is not None and self.races:
            self.races -= 1
            await self.publish_partial_update_sync(
                {"pk": pk, "sk": sk, "version": -1, "attributes": {"racer": True}},
                invoke_context=CTX,
                tx=tx,
            )
        return latest


def event(event_id: str, kind: str, data: dict[str, Any]) -> bytes:
    """A webhook body in the fake provider's shape."""
    return json.dumps({"id": event_id, "type": kind, "created": time.time(), "data": data}).encode()


async def deliver(webhooks: Webhooks, bodies: list[bytes]) -> list[int]:
    """POST signed bodies to the receiver; the status codes."""
    transport = httpx.ASGITransport(app=webhooks.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://seawall") as http:
        statuses = []
        for body in bodies:
            headers = sign_hmac_timestamp(body, SECRET, int(time.time()))
            statuses.append(
                (await http.post(GUIDE_PATH, content=body, headers=headers)).status_code
            )
    return statuses


async def drain(worker: Worker, queue: Queue, rounds: int = 200) -> None:
    """Run the worker until no job is ready, delayed or in flight."""
    for _ in range(rounds):
        await worker.run_until_idle()
        if all(s.ready + s.delayed + s.in_flight == 0 for s in await queue.stats()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("jobs did not settle")


async def test_a_conflict_rolls_back_the_webhook_and_the_retry_applies_it(
    real_store: Store,
) -> None:
    queue = Queue(real_store)
    commands = RacedCommands(real_store)
    settings = GatewaySettings(url="http://127.0.0.1:9", api_key="literal:sk_test_literal")
    service = PaymentGatewayService(settings, commands, queue=queue)
    await service.records.apply(
        "shop1",
        PaymentUpdate(order_id="o-7", source="charge", status="pending", amount=900),
        invoke_context=CTX,
    )
    router = Router()
    register_payment_webhooks(router, service)
    webhooks = Webhooks(real_store, [guide_endpoint([SECRET])], router=router, queue=queue)
    assert await deliver(webhooks, [event("evt_1", "payment.completed", PAYMENT)]) == [200]

    worker = Worker(
        real_store,
        queue=queue,
        poll_interval=0.01,
        backoff=ExponentialJitter(base=0.01, cap=0.02),
    )
    webhooks.attach(worker)
    service.register(worker)
    await drain(worker, queue)

    assert commands.races == 0  # the first attempt ran into the conflict
    record = await service.get_payment("o-7", invoke_context=CTX)
    assert record is not None and record.status == "success"
    assert record.transaction_id == "pay_7" and record.attributes["event_ids"] == ["evt_1"]
    assert "racer" not in record.attributes  # the failed attempt's writes rolled back
    history = await commands.get_history("PAYMENT#shop1", "ORDER#o-7")
    assert [h.version for h in history] == [1] and record.version == 2  # history: before v2
    [stored] = await list_events(real_store)
    assert stored.status == "processed" and stored.attempts == 2
    assert "payments.apply" not in {s.queue for s in await queue.stats()}
    await service.aclose()


async def test_webhook_effects_commit_with_the_processed_mark(real_store: Store) -> None:
    queue = Queue(real_store)
    commands = CommandService(real_store)
    settings = GatewaySettings(url="http://127.0.0.1:9", api_key="literal:sk_test_literal")
    service = PaymentGatewayService(settings, commands, queue=queue)
    router = Router()
    register_payment_webhooks(router, service)
    webhooks = Webhooks(real_store, [guide_endpoint([SECRET])], router=router, queue=queue)
    refund = {"id": "re_1", "payment_id": "pay_7", "amount": 900, "metadata": METADATA}
    bodies = [
        event("evt_2", "refund.created", refund),
        event("evt_1", "payment.completed", PAYMENT),
        event("evt_2", "refund.created", refund),  # a redelivery: a duplicate at the inbox
    ]
    assert await deliver(webhooks, bodies) == [200, 200, 200]
    worker = Worker(real_store, queue=queue, poll_interval=0.01)
    webhooks.attach(worker)
    service.register(worker)
    await drain(worker, queue)
    record = await service.get_payment("o-7", invoke_context=CTX)
    assert record is not None and record.status == "refunded"
    assert record.attributes["amount_refunded"] == 900
    assert sorted(record.attributes["event_ids"]) == ["evt_1", "evt_2"]
    # one version per event, written by the webhook job itself: no follow-up jobs
    history = await commands.get_history("PAYMENT#shop1", "ORDER#o-7")
    current = await commands.get_item({"pk": "PAYMENT#shop1", "sk": "ORDER#o-7"})
    assert current is not None and current.version == 2
    assert [h.source for h in [*history, current]] == ["payments.webhook", "payments.webhook"]
    assert {e.status for e in await list_events(real_store)} == {"processed"}
    assert {s.queue for s in await queue.stats()} <= {"seawall.webhooks"}
    await service.aclose()
