"""A webhook whose processing job the queue dead-letters is dead in the inbox too (one view)."""

from __future__ import annotations

import httpx
import pytest

from seawall.jobs import Queue
from seawall.store import Store
from seawall.testing import FakeClock
from seawall.webhooks import Webhooks, guide_endpoint
from seawall.webhooks.inbox import list_events
from tests.webhooks.support import SECRET, event_body, guide_headers


async def test_a_job_dead_lettered_at_claim_marks_its_event_dead(
    store: Store, clock: FakeClock
) -> None:
    webhooks = Webhooks(
        store, [guide_endpoint([SECRET])], queue=Queue(store, default_max_receives=2)
    )
    body = event_body("evt_dies")
    transport = httpx.ASGITransport(app=webhooks.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        answer = await client.post(
            "/api/webhooks/payment-provider",
            content=body,
            headers=guide_headers(body, timestamp=clock.time()),
        )
    assert answer.status_code == 200, answer.text
    queue = webhooks.queue
    for _ in range(2):  # two workers took it and died before acking
        jobs, dead = await queue.claim_counted(webhooks.queue_name, visibility_timeout=30)
        assert len(jobs) == 1 and dead == 0
        clock.advance(31)
    jobs, dead = await queue.claim_counted(webhooks.queue_name, visibility_timeout=30)
    assert jobs == [] and dead == 1
    [event] = await list_events(store, status="dead")
    assert event.event_id == "evt_dies" and event.attempts == 2
    assert "receive limit reached" in (event.last_error or "")


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "s\ud800"])
async def test_listing_filters_that_no_engine_can_hold_are_refused_not_500(
    store: Store, bad: str
) -> None:
    for field in ("source", "type"):
        with pytest.raises(ValueError, match="cannot hold NUL or lone surrogates"):
            await list_events(store, **{field: bad})
