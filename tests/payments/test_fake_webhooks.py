"""The webhook sender over real sockets: signing, redelivery, duplicates, attacks."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from seawall.testing import FakeProvider
from seawall.testing.fake_webhooks import (
    WebhookPlan,
    WebhookPlanError,
    WebhookSender,
    sign_hmac_timestamp,
)
from seawall.webhooks.schemes.errors import VerificationError
from seawall.webhooks.schemes.hmac_timestamp import HmacTimestampScheme

SECRET = "whsec-test-secret"


@dataclass
class Receiver:
    """A real HTTP receiver that verifies with seawall's scheme and records what it saw."""

    url: str = ""
    fail_first: int = 0
    accepted: list[dict[str, object]] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    seen: set[str] = field(default_factory=set)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    scheme = HmacTimestampScheme()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            scheme.verify(body, dict(request.headers), [SECRET], now=time.time(), tolerance_s=300)
        except VerificationError as exc:
            state.rejected[exc.reason.value] += 1
            return web.json_response({"message": "Invalid webhook signature"}, status=400)
        event = json.loads(body)
        state.attempts[event["id"]] += 1
        if state.attempts[event["id"]] <= state.fail_first:
            return web.json_response({"message": "try later"}, status=503)
        duplicate = event["id"] in state.seen
        state.seen.add(event["id"])
        state.accepted.append(event)
        return web.json_response({"received": True, "duplicate": duplicate})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/hook"
    yield state
    await runner.cleanup()


def events(n: int, kind: str = "payment.completed") -> list[dict[str, object]]:
    return [
        {"id": f"evt_{i:04d}", "type": kind, "sequence": i, "data": {"status": "succeeded"}}
        for i in range(n)
    ]


def test_signature_matches_the_guide_scheme_and_seawall_verifies_it() -> None:
    body = b'{"id":"evt_1", "type":"payment.completed","note":"caf\\u00e9 \\/"}'
    headers = sign_hmac_timestamp(body, SECRET, 1_700_000_000)
    assert headers["x-timestamp"] == "1700000000"
    assert headers == HmacTimestampScheme().sign(body, SECRET, timestamp=1_700_000_000)
    verified = HmacTimestampScheme().verify(
        body, headers, [SECRET], now=1_700_000_010, tolerance_s=300
    )
    assert verified.timestamp == 1_700_000_000
    with pytest.raises(ValueError, match="empty secret"):
        sign_hmac_timestamp(body, "", 1)


def test_bad_plans_and_arguments_are_named() -> None:
    with pytest.raises(WebhookPlanError, match="duplicate_rate"):
        WebhookPlan(duplicate_rate=1.5)
    with pytest.raises(WebhookPlanError, match="max_attempts"):
        WebhookPlan(max_attempts=0)
    with pytest.raises(ValueError, match="http"):
        WebhookSender("ftp://x", SECRET)
    with pytest.raises(ValueError, match="differ"):
        WebhookSender("http://x", SECRET, forged_secret=SECRET)
    with pytest.raises(RuntimeError, match="not running"):
        WebhookSender("http://x", SECRET).submit({"id": "e", "type": "t"})


async def test_every_event_is_delivered_signed_and_acknowledged(receiver: Receiver) -> None:
    with WebhookSender(receiver.url, SECRET) as sender:
        for event in events(20):
            sender.submit(event)
        assert await sender.wait_settled(10)
        stats = sender.stats()
    assert sorted(e["id"] for e in receiver.accepted) == [f"evt_{i:04d}" for i in range(20)]
    assert stats.events == stats.acknowledged == stats.requests == 20
    assert stats.redeliveries == 0 and stats.gave_up == [] and stats.pending == 0
    assert stats.answers == {"200": 20}


async def test_non_2xx_is_redelivered_with_backoff_until_acknowledged(receiver: Receiver) -> None:
    receiver.fail_first = 2
    plan = WebhookPlan(retry_base_s=0.02, retry_cap_s=0.05)
    with WebhookSender(receiver.url, SECRET, plan) as sender:
        for event in events(5):
            sender.submit(event)
        assert await sender.wait_settled(10)
        stats = sender.stats()
        log = sender.log()
    assert stats.acknowledged == 5 and stats.requests == 15 and stats.redeliveries == 10
    assert stats.answers == {"503": 10, "200": 5}
    assert max(r.attempt for r in log) == 3
    # Each redelivery is signed afresh and verified again by the receiver: none was rejected.
    assert not receiver.rejected


async def test_unreachable_receiver_gives_up_after_max_attempts() -> None:
    plan = WebhookPlan(retry_base_s=0.01, retry_cap_s=0.01, max_attempts=3, timeout_s=1)
    with WebhookSender("http://127.0.0.1:9/hook", SECRET, plan) as sender:
        sender.submit({"id": "evt_lost", "type": "payment.completed"})
        assert await sender.wait_settled(10)
        stats = sender.stats()
    assert stats.gave_up == ["evt_lost"] and stats.acknowledged == 0
    assert stats.requests == 3 and stats.answers == {"error": 3}


async def test_hostile_plan_duplicates_delays_and_attacks_deterministically(
    receiver: Receiver,
) -> None:
    plan = WebhookPlan(
        seed=3,
        duplicate_rate=0.3,
        delay_rate=0.3,
        max_delay_s=0.1,
        ack_loss_rate=0.2,
        forged_rate=0.3,
        stale_rate=0.3,
    )
    with WebhookSender(receiver.url, SECRET, plan) as sender:
        for event in events(40):
            sender.submit(event)
        assert await sender.wait_settled(15)
        stats = sender.stats()
        kinds = sorted((r.event_id, r.kind) for r in sender.log())
    assert stats.acknowledged == 40 and stats.gave_up == []
    assert stats.duplicates_sent > 0 and stats.delayed > 0 and stats.acks_lost > 0
    assert stats.forged_sent > 0 and stats.forged_rejected == stats.forged_sent
    assert stats.stale_sent > 0 and stats.stale_rejected == stats.stale_sent
    assert stats.forged_accepted == stats.stale_accepted == 0
    assert receiver.rejected["stale_timestamp"] == stats.stale_sent
    assert receiver.rejected["bad_signature"] == stats.forged_sent
    # Redelivered and duplicated events reach the receiver more than once; it sees each id.
    assert len(receiver.accepted) == 40 + stats.duplicates_sent + stats.acks_lost
    assert stats.duplicate_answers == len(receiver.accepted) - 40
    # The same seed draws the same misbehaviour for the same events.
    with WebhookSender(receiver.url, SECRET, plan) as again:
        for event in events(40):
            again.submit(event)
        assert await again.wait_settled(15)
        assert sorted((r.event_id, r.kind) for r in again.log()) == kinds


async def test_fake_provider_events_are_sent_as_webhooks(receiver: Receiver) -> None:
    with (
        WebhookSender(receiver.url, SECRET) as sender,
        FakeProvider(event_sinks=[sender]) as provider,
    ):
        async with httpx.AsyncClient(base_url=provider.url) as http:
            paid = await http.post(
                "/v1/payments",
                json={
                    "amount": 500,
                    "currency": "usd",
                    "customer_id": "c1",
                    "metadata": {"order_id": "o-1"},
                },
                headers={"Idempotency-Key": "o-1-charge"},
            )
            payment_id = paid.json()["id"]
            refund = await http.post("/v1/refunds", json={"payment_id": payment_id})
            assert refund.status_code == 200
        deadline = time.monotonic() + 5
        while sender.stats().events < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await sender.wait_settled(5)
    types = [e["type"] for e in receiver.accepted]
    assert sorted(types) == ["payment.completed", "refund.created"]
    completed = next(e for e in receiver.accepted if e["type"] == "payment.completed")
    assert completed["data"]["metadata"] == {"order_id": "o-1"}  # type: ignore[index]
    assert completed["data"]["id"] == payment_id  # type: ignore[index]
