"""The same event delivered 50 times at once, to two servers sharing a store: one row, one job,
one effect."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from seawall.jobs import Worker
from seawall.store import Store, Tx
from seawall.webhooks import Router, WebhookEvent, Webhooks, get_event, guide_endpoint
from tests.webhooks.support import SECRET, count, event_body, guide_headers

URL = "/api/webhooks/payment-provider"


async def test_fifty_concurrent_deliveries_one_effect(
    make_server: Any, wstore: Store, worker_side: tuple[Webhooks, Worker], router: Router
) -> None:
    first, _ = make_server(guide_endpoint([SECRET]))
    second, _ = make_server(guide_endpoint([SECRET]))
    async with wstore.transaction() as tx:
        await tx.execute("CREATE TABLE charges (event_id TEXT NOT NULL, amount INTEGER NOT NULL)")

    @router.on("payment.completed")
    async def charge(event: WebhookEvent[Any], tx: Tx) -> None:
        amount = int(event.payload["data"]["amount"])
        await tx.execute("INSERT INTO charges (event_id, amount) VALUES (?, ?)", (event.id, amount))

    body = event_body("evt_same", amount=4200)
    headers = guide_headers(body)
    async with aiohttp.ClientSession() as session:

        async def deliver(i: int) -> tuple[int, dict[str, Any]]:
            base = first if i % 2 else second
            async with session.post(base + URL, data=body, headers=headers) as resp:
                return resp.status, await resp.json()

        answers = await asyncio.gather(*(deliver(i) for i in range(50)))

    assert [status for status, _ in answers] == [200] * 50
    new = [doc for _, doc in answers if "duplicate" not in doc]
    assert new == [{"received": True}]
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 1
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_jobs") == 1
    await worker_side[1].run_until_idle()
    assert await count(wstore, "SELECT COUNT(*) FROM charges") == 1
    assert (await get_event(wstore, "payment-provider", "evt_same")).status == "processed"
