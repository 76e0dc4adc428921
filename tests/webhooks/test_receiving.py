"""The guide's endpoint over real HTTP on both engines: receive, dedup, reject, process, replay."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from seawall.jobs import Worker
from seawall.store import Store, Tx
from seawall.testing import FakeClock
from seawall.webhooks import (
    EventNotFoundError,
    PermanentWebhookError,
    Router,
    WebhookEvent,
    Webhooks,
    get_event,
    guide_endpoint,
    list_events,
)
from tests.webhooks.support import SECRET, count, event_body, guide_headers

GUIDE_URL = "/api/webhooks/payment-provider"


async def post(base: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.post(GUIDE_URL, content=body, headers=headers)


async def test_guide_endpoint_as_written(guide_server: Any, wstore: Store) -> None:
    base, _ = guide_server
    body = event_body("evt_1")
    resp = await post(base, body, guide_headers(body))
    assert resp.status_code == 200
    assert resp.json() == {"received": True}
    stored = await get_event(wstore, "payment-provider", "evt_1")
    assert stored.body == body
    assert stored.event_type == "payment.completed"
    assert stored.status == "received"
    assert "x-signature" in stored.headers
    jobs = await count(wstore, "SELECT COUNT(*) FROM seawall_jobs WHERE queue = 'seawall.webhooks'")
    assert jobs == 1


async def test_duplicate_says_so_and_makes_no_second_job(guide_server: Any, wstore: Store) -> None:
    base, app = guide_server
    body = event_body("evt_dup")
    first = await post(base, body, guide_headers(body))
    second = await post(base, body, guide_headers(body, timestamp=time.time() + 1))
    assert first.json() == {"received": True}
    assert second.status_code == 200
    assert second.json() == {"received": True, "duplicate": True}
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 1
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_jobs") == 1
    stats = app.state.webhooks.stats
    assert stats.accepted["payment-provider"] == 1
    assert stats.duplicates["payment-provider"] == 1


async def test_bad_signature_answers_guide_message(guide_server: Any, wstore: Store) -> None:
    base, app = guide_server
    body = event_body("evt_bad")
    resp = await post(base, body, guide_headers(body, secret="not-the-secret"))
    assert resp.status_code == 400
    assert resp.json()["message"] == "Invalid webhook signature"
    assert resp.json()["reason"] == "bad_signature"
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 0
    assert app.state.webhooks.stats.rejected[("payment-provider", "bad_signature")] == 1


async def test_invalid_signature_status_401(make_server: Any, wstore: Store) -> None:
    base, _ = make_server(guide_endpoint([SECRET], invalid_signature_status=401))
    body = event_body("evt_401")
    resp = await post(base, body, guide_headers(body, timestamp=time.time() - 3600))
    assert resp.status_code == 401
    assert resp.json()["reason"] == "stale_timestamp"


async def test_previous_secret_still_accepted(make_server: Any, wstore: Store) -> None:
    base, _ = make_server(guide_endpoint(["new-secret", SECRET]))
    body = event_body("evt_rot")
    assert (await post(base, body, guide_headers(body))).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":"payment.completed","id":"evt_u1","data":{"amount":1}}',
        b'{ "data" : { "note" : "caf\\u00e9 \\ud83d\\ude00", "url" : "https:\\/\\/x.test\\/p" },'
        b'\n  "id" : "evt_u2" ,\t"type" : "payment.completed" }',
        b'{"id":"evt_u3","type":"payment.completed","data":{"amount":1.50,"b":[1, 2 ,3]}}  \n',
    ],
)
async def test_unusual_bytes_verify_end_to_end(
    raw: bytes,
    guide_server: Any,
    wstore: Store,
    worker_side: tuple[Webhooks, Worker],
    router: Router,
) -> None:
    base, _ = guide_server
    seen: list[WebhookEvent[Any]] = []

    @router.on("payment.completed")
    async def handle(event: WebhookEvent[Any], tx: Tx) -> None:
        seen.append(event)

    resp = await post(base, raw, guide_headers(raw))
    assert resp.status_code == 200, resp.text
    await worker_side[1].run_until_idle()
    assert len(seen) == 1
    assert seen[0].body == raw
    assert seen[0].payload == json.loads(raw)


async def test_handler_effects_commit_with_processed_mark(
    guide_server: Any, wstore: Store, worker_side: tuple[Webhooks, Worker], router: Router
) -> None:
    base, _ = guide_server
    async with wstore.transaction() as tx:
        await tx.execute("CREATE TABLE payments_seen (event_id TEXT NOT NULL)")

    class Completed(BaseModel):
        id: str
        type: str
        data: dict[str, int]

    @router.on("payment.completed", model=Completed)
    async def completed(event: WebhookEvent[Completed], tx: Tx) -> None:
        assert isinstance(event.payload, Completed)
        await tx.execute("INSERT INTO payments_seen (event_id) VALUES (?)", (event.payload.id,))

    wildcard: list[str] = []

    @router.on("payment.*")
    async def any_payment(event: WebhookEvent[Any], tx: Tx) -> None:
        wildcard.append(event.type)

    for name, kind in (("evt_a", "payment.completed"), ("evt_b", "payment.failed")):
        body = event_body(name, kind)
        assert (await post(base, body, guide_headers(body))).status_code == 200
    body = event_body("evt_c", "invoice.created")
    assert (await post(base, body, guide_headers(body))).status_code == 200
    await worker_side[1].run_until_idle()

    assert await count(wstore, "SELECT COUNT(*) FROM payments_seen") == 1
    assert sorted(wildcard) == ["payment.completed", "payment.failed"]
    events = {e.event_id: e for e in await list_events(wstore)}
    assert events["evt_a"].status == "processed"
    assert events["evt_a"].attempts == 1
    assert events["evt_b"].status == "processed"
    assert events["evt_c"].status == "unhandled"
    assert [e.event_id for e in await list_events(wstore, status="unhandled")] == ["evt_c"]
    assert [e.event_id for e in await list_events(wstore, type="payment.failed")] == ["evt_b"]
    assert await list_events(wstore, source="other") == []


async def test_model_validation_failure_is_permanent(
    guide_server: Any, wstore: Store, worker_side: tuple[Webhooks, Worker], router: Router
) -> None:
    base, _ = guide_server

    class Strict(BaseModel):
        id: str
        data: dict[str, str]

    calls: list[str] = []

    @router.on("payment.completed", model=Strict)
    async def handle(event: WebhookEvent[Strict], tx: Tx) -> None:
        calls.append(event.id)

    body = event_body("evt_invalid", amount=5)
    assert (await post(base, body, guide_headers(body))).status_code == 200
    await worker_side[1].run_until_idle()
    stored = await get_event(wstore, "payment-provider", "evt_invalid")
    assert calls == []
    assert stored.status == "failed"
    assert stored.last_error is not None and "ValidationError" in stored.last_error
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_jobs WHERE state = 1") == 1


async def test_permanent_error_rolls_back_effects(
    guide_server: Any, wstore: Store, worker_side: tuple[Webhooks, Worker], router: Router
) -> None:
    base, _ = guide_server
    async with wstore.transaction() as tx:
        await tx.execute("CREATE TABLE partial_effects (event_id TEXT NOT NULL)")

    @router.on("*")
    async def handle(event: WebhookEvent[Any], tx: Tx) -> None:
        await tx.execute("INSERT INTO partial_effects (event_id) VALUES (?)", (event.id,))
        raise PermanentWebhookError("unknown customer")

    body = event_body("evt_perm")
    assert (await post(base, body, guide_headers(body))).status_code == 200
    await worker_side[1].run_until_idle()
    stored = await get_event(wstore, "payment-provider", "evt_perm")
    assert stored.status == "failed"
    assert "unknown customer" in (stored.last_error or "")
    assert await count(wstore, "SELECT COUNT(*) FROM partial_effects") == 0


async def test_retries_then_dead_then_replay(
    make_server: Any,
    wstore: Store,
    worker_side: tuple[Webhooks, Worker],
    router: Router,
    wclock: FakeClock,
) -> None:
    base, _ = make_server(guide_endpoint([SECRET], max_receives=3))
    webhooks, worker = worker_side
    healthy = False
    attempts: list[int] = []

    @router.on("payment.completed")
    async def flaky(event: WebhookEvent[Any], tx: Tx) -> None:
        attempts.append(event.attempt)
        if not healthy:
            raise RuntimeError("ledger down")

    body = event_body("evt_flaky")
    assert (await post(base, body, guide_headers(body))).status_code == 200
    for _ in range(3):
        await worker.run_until_idle()
        wclock.advance(3600)
    assert attempts == [1, 2, 3]
    stored = await get_event(wstore, "payment-provider", "evt_flaky")
    assert stored.status == "dead"
    assert "ledger down" in (stored.last_error or "")

    healthy = True
    job_id = await webhooks.replay("payment-provider", "evt_flaky")
    assert (await get_event(wstore, "payment-provider", "evt_flaky")).status == "received"
    await worker.run_until_idle()
    stored = await get_event(wstore, "payment-provider", "evt_flaky")
    assert stored.status == "processed"
    assert stored.job_id == job_id
    assert stored.attempts == 4
    with pytest.raises(EventNotFoundError):
        await webhooks.replay("payment-provider", "nope")


async def test_store_unavailable_answers_503(tmp_path: Any, router: Router) -> None:
    from seawall.store import open_store
    from tests.serving import serve_in_thread

    missing = open_store(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    webhooks = Webhooks(missing, [guide_endpoint([SECRET])], router=router)
    with serve_in_thread(webhooks.asgi_app()) as base:
        body = event_body("evt_503")
        resp = await post(base, body, guide_headers(body))
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    assert resp.json()["reason"] == "store_unavailable"
    assert webhooks.stats.store_errors["payment-provider"] == 1
