"""Retention of webhook events: only old terminal events go, never inside the replay window."""

from __future__ import annotations

import asyncio
import time

import pytest

from seawall.config import ConfigError, parse_config
from seawall.jobs import Queue
from seawall.service.app import build_app
from seawall.store import Store, open_store
from seawall.testing import FakeClock
from seawall.webhooks import Webhooks, guide_endpoint
from seawall.webhooks.inbox import InboxEntry, insert_entries, mark_outcome, purge_events
from tests.conftest import dispose

STATUSES = ("received", "processing", "processed", "unhandled", "failed", "dead")


async def add_event(store: Store, event_id: str, status: str, *, source: str = "shop") -> None:
    """One inbox row received now (by the store's clock) with `status`."""
    entry = InboxEntry(source, event_id, "order.paid", b"{}", "{}", store.clock.time())
    async with store.transaction() as tx:
        assert await insert_entries(tx, [entry]) == {(source, event_id)}
        if status != "received":
            await mark_outcome(
                tx, source, event_id, status=status, attempts=1, error=None,
                processed_at=store.clock.time(), job_id="job-1",
            )  # fmt: skip


async def event_ids(store: Store) -> set[str]:
    async with store.read() as tx:
        rows = await tx.fetchall("SELECT event_id FROM seawall_webhook_inbox")
    return {r["event_id"] for r in rows}


async def test_purge_deletes_only_old_processed_and_unhandled(
    store: Store, clock: FakeClock
) -> None:
    for status in STATUSES:
        await add_event(store, f"old-{status}", status)
        await add_event(store, f"old2-{status}", status, source="other")
    clock.advance(1000)
    for status in STATUSES:
        await add_event(store, f"new-{status}", status)
    clock.advance(10)

    assert await purge_events(store, older_than_s=2000) == 0
    assert await purge_events(store, older_than_s=500, batch_size=1) == 4
    kept = {f"{age}-{s}" for age in ("old", "old2") for s in STATUSES}
    kept -= {"old-processed", "old-unhandled", "old2-processed", "old2-unhandled"}
    assert await event_ids(store) == kept | {f"new-{s}" for s in STATUSES}
    clock.advance(1_000_000)
    assert await purge_events(store, older_than_s=500, statuses=("unhandled",)) == 1
    assert "new-processed" in await event_ids(store)


async def test_purge_refuses_non_terminal_statuses_and_bad_ages(store: Store) -> None:
    for statuses in (("dead",), ("processed", "received"), ()):
        with pytest.raises(ValueError, match="only terminal statuses can be purged"):
            await purge_events(store, older_than_s=10, statuses=statuses)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number >= 0"):
            await purge_events(store, older_than_s=bad)


async def test_cleanup_refuses_inside_twice_the_longest_tolerance(
    store: Store, clock: FakeClock
) -> None:
    webhooks = Webhooks(
        store,
        [
            guide_endpoint(["s1"], tolerance_s=300),
            guide_endpoint(["s2"], source="slow", path="/slow", tolerance_s=600),
        ],
    )
    await add_event(store, "a", "processed")
    await add_event(store, "b", "failed")
    clock.advance(1300)
    with pytest.raises(ValueError, match=r"twice the longest endpoint tolerance_s \(600 s\)"):
        await webhooks.cleanup(1199)
    assert await event_ids(store) == {"a", "b"}
    assert await webhooks.cleanup(1200) == 1
    assert await event_ids(store) == {"b"}


def test_config_refuses_retention_shorter_than_the_replay_window() -> None:
    hook = {"source": "shop", "path": "/shop", "secrets": ["literal:x"], "tolerance_s": 600}
    with pytest.raises(ConfigError, match=r"retention_s >= 1200"):
        parse_config({"worker": {"retention_s": 1000}, "webhooks": [hook]})
    off = parse_config({"worker": {"retention_s": 0}, "webhooks": [hook]})
    assert off.worker.retention_s == 0 and off.worker.cleanup_interval_s == 300
    assert parse_config({}).worker.retention_s == 604_800
    with pytest.raises(ConfigError, match="cleanup_interval_s"):
        parse_config({"worker": {"cleanup_interval_s": 0}})


async def test_service_runs_retention_beside_the_worker(store_url: str) -> None:
    store = open_store(store_url)  # the real clock: the loop runs on real (short) intervals
    try:
        await store.migrate()
        queue = Queue(store)
        await queue.enqueue("reports", {"n": 1})
        (job,) = await queue.claim("reports")
        await queue.ack(job)
        await add_event(store, "done", "processed")
        await add_event(store, "waiting", "received")
        config = parse_config(
            {
                "store": {"url": store_url},
                "worker": {"retention_s": 0.2, "cleanup_interval_s": 0.05},
                "webhooks": [
                    {
                        "source": "shop",
                        "path": "/shop",
                        "secrets": ["literal:x"],
                        "tolerance_s": 0.1,
                    }
                ],
            }
        )
        app = build_app(config, store=store, switch_interval_s=None)
        async with app.router.lifespan_context(app):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if await queue.get_job(job.id) is None and "done" not in await event_ids(store):
                    break
                await asyncio.sleep(0.05)
            assert await queue.get_job(job.id) is None
            assert await event_ids(store) == {"waiting"}
            began = time.monotonic()
        assert time.monotonic() - began < 3  # worker and clean-up loop stop promptly
    finally:
        await dispose(store)
