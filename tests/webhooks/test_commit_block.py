"""Webhook handlers that await I/O: `commit_block=True` handlers run side by side on every engine,
their effects, the event's mark and the job's ack commit together, and failures keep the rules."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette

from seawall.jobs import Worker
from seawall.secrets import Secret
from seawall.store import Store
from seawall.testing import FakeClock
from seawall.webhooks import PermanentWebhookError, Router, Webhooks, guide_endpoint
from seawall.webhooks.inbox import get_event
from tests.serving import serve_in_loop
from tests.webhooks.support import SECRET, event_body, guide_headers


async def _effects(store: Store) -> list[str]:
    async with store.read() as tx:
        return sorted(str(r["id"]) for r in await tx.fetchall("SELECT id FROM effects"))


async def _setup(store: Store, router: Router) -> Webhooks:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (id TEXT PRIMARY KEY, note TEXT)")
    return Webhooks(store, [guide_endpoint([Secret(SECRET, "literal")])], router=router)


async def _deliver(
    webhooks: Webhooks, clock: FakeClock, ids: list[str], kind: str = "payment.completed"
) -> None:
    async with serve_in_loop(Starlette(routes=webhooks.routes())) as client:
        for event_id in ids:
            body = event_body(event_id, kind)
            answer = await client.post(
                "/api/webhooks/payment-provider",
                content=body,
                headers=guide_headers(body, timestamp=clock.time()),
            )
            assert answer.status_code == 200, answer.text


def _worker(store: Store, webhooks: Webhooks) -> Worker:
    worker = Worker(store, queue=webhooks.queue, concurrency=16)
    webhooks.attach(worker)
    return worker


async def test_handlers_that_await_io_run_side_by_side_and_commit_once(
    store: Store, clock: FakeClock
) -> None:
    router = Router()
    webhooks = await _setup(store, router)
    in_flight, peak = 0, 0
    all_waiting = asyncio.Event()

    @router.on("payment.completed", commit_block=True)
    async def record(event: Any, run: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 12:
            all_waiting.set()
        # The "I/O": wait until twelve handlers are in flight at once (they could not be if
        # each held the write transaction while waiting), at most 5 s.
        await asyncio.wait_for(all_waiting.wait(), 5)
        in_flight -= 1
        async with run.commit() as tx:
            await tx.execute("INSERT INTO effects (id, note) VALUES (?, ?)", (event.id, "io"))

    ids = [f"evt_{n:02d}" for n in range(12)]
    await _deliver(webhooks, clock, ids)
    summary = await _worker(store, webhooks).run_until_idle()
    assert peak == 12 and int(summary) == 12
    assert await _effects(store) == ids
    for event_id in ids:
        assert (await get_event(store, "payment-provider", event_id)).status == "processed"


async def test_failures_retry_then_go_dead_and_permanent_ones_fail_at_once(
    store: Store, clock: FakeClock
) -> None:
    router = Router()
    webhooks = await _setup(store, router)
    tries: dict[str, int] = {}

    @router.on("payment.*", commit_block=True)
    async def flaky(event: Any, run: Any) -> None:
        tries[event.id] = tries.get(event.id, 0) + 1
        if event.type == "payment.refused":
            raise PermanentWebhookError("unknown order")
        if event.id == "evt_never" or tries[event.id] == 1:
            raise ConnectionError("ledger unreachable")
        async with run.commit() as tx:
            await tx.execute("INSERT INTO effects (id) VALUES (?)", (event.id,))

    await _deliver(webhooks, clock, ["evt_once", "evt_never"])
    await _deliver(webhooks, clock, ["evt_refused"], kind="payment.refused")
    worker = _worker(store, webhooks)
    for _ in range(8):
        await worker.run_until_idle()
        clock.advance(600)  # past every backoff
    assert await _effects(store) == ["evt_once"]
    assert tries == {"evt_once": 2, "evt_never": 5, "evt_refused": 1}
    never = await get_event(store, "payment-provider", "evt_never")
    assert never.status == "dead" and never.last_error == "ConnectionError: ledger unreachable"
    refused = await get_event(store, "payment-provider", "evt_refused")
    assert refused.status == "failed" and "unknown order" in (refused.last_error or "")


async def test_a_handler_raising_inside_its_block_rolls_its_mark_back_and_retries(
    store: Store, clock: FakeClock
) -> None:
    router = Router()
    webhooks = await _setup(store, router)
    seen_inside: list[str] = []

    @router.on("payment.completed", commit_block=True)
    async def flaky(event: Any, run: Any) -> None:
        async with run.commit() as tx:
            await tx.execute("INSERT INTO effects (id, note) VALUES (?, ?)", (event.id, "once"))
            status = await tx.fetchval(
                "SELECT status FROM seawall_webhook_inbox WHERE source = ? AND event_id = ?",
                (event.source, event.id),
            )
            seen_inside.append(str(status))  # the mark went out with the ack, before the body
            if len(seen_inside) == 1:
                raise ConnectionError("ledger unreachable, inside the block")

    await _deliver(webhooks, clock, ["evt_inside"])
    worker = _worker(store, webhooks)
    await worker.run_until_idle()
    assert seen_inside == ["processed"]
    event = await get_event(store, "payment-provider", "evt_inside")
    assert event.status != "processed" and event.processed_at is None, event
    assert await _effects(store) == []
    clock.advance(600)  # past the retry's backoff
    await worker.run_until_idle()
    assert seen_inside == ["processed", "processed"]
    event = await get_event(store, "payment-provider", "evt_inside")
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, None)
    assert await _effects(store) == ["evt_inside"]
    clock.advance(600)
    await worker.run_until_idle()
    assert len(seen_inside) == 2, "processed once: nothing left to retry"


async def test_transactional_handlers_of_the_same_event_commit_inside_the_block(
    store: Store, clock: FakeClock
) -> None:
    router = Router()
    webhooks = await _setup(store, router)

    @router.on("payment.completed")
    async def also(event: Any, tx: Any) -> None:
        await tx.execute("INSERT INTO effects (id, note) VALUES (?, ?)", (f"tx:{event.id}", "tx"))

    @router.on("payment.completed", commit_block=True)
    async def quick(event: Any, run: Any) -> None:
        pass  # needs no block: the mark, the ack and the other handler's effect commit after it

    await _deliver(webhooks, clock, ["evt_a"])
    await _worker(store, webhooks).run_until_idle()
    assert await _effects(store) == ["tx:evt_a"]
    assert (await get_event(store, "payment-provider", "evt_a")).status == "processed"


async def test_two_commit_block_handlers_for_one_event_fail_it_with_the_reason(
    store: Store, clock: FakeClock
) -> None:
    router = Router()
    webhooks = await _setup(store, router)
    for pattern in ("payment.completed", "payment.*"):
        router.on(pattern, commit_block=True)(lambda event, run: asyncio.sleep(0))
    await _deliver(webhooks, clock, ["evt_two"])
    await _worker(store, webhooks).run_until_idle()
    event = await get_event(store, "payment-provider", "evt_two")
    assert event.status == "failed" and "at most one may" in (event.last_error or "")


async def test_replay_goes_to_the_commit_block_queue(store: Store, clock: FakeClock) -> None:
    router = Router()
    webhooks = await _setup(store, router)
    runs: list[str] = []

    @router.on("payment.completed", commit_block=True)
    async def record(event: Any, run: Any) -> None:
        runs.append(event.id)

    await _deliver(webhooks, clock, ["evt_r"])
    worker = _worker(store, webhooks)
    await worker.run_until_idle()
    job_id = await webhooks.replay("payment-provider", "evt_r")
    job = await webhooks.queue.get_job(job_id)
    assert job is not None and job.queue == webhooks.io_queue_name
    await worker.run_until_idle()
    assert runs == ["evt_r", "evt_r"]


@pytest.mark.parametrize("commit_block", [False, True])
def test_router_knows_which_events_need_the_block(commit_block: bool) -> None:
    router = Router()
    router.on("a.*", commit_block=commit_block)(lambda event, run: asyncio.sleep(0))
    assert router.needs_commit_block("s", "a.b") is commit_block
    assert router.needs_commit_block("s", "other") is False
