"""`jobs cleanup` and `events cleanup` on both engines, for people and for scripts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest_asyncio

from seawall.jobs import Queue
from seawall.store import Store
from seawall.testing import FakeClock
from tests.ops.seed import write_config
from tests.webhooks.test_retention import add_event


@pytest_asyncio.fixture
async def aged(store: Store, clock: FakeClock) -> str:
    """Two done jobs, one dead letter and events in every status, all stored years ago (the
    fake clock starts in 2023; the CLI reads the real clock), then one done job stored now."""
    queue = Queue(store, default_max_receives=1)
    for n in range(3):
        await queue.enqueue("reports", {"n": n})
    jobs = await queue.claim("reports", limit=3)
    await queue.ack_many(jobs[:2])
    await queue.nack(jobs[2], error="boom")
    for status in ("received", "processed", "unhandled", "failed", "dead"):
        await add_event(store, f"evt-{status}", status)
    clock.set(time.time())
    await queue.enqueue("reports", {"n": "recent"})
    (recent,) = await queue.claim("reports")
    await queue.ack(recent)
    return store.url


def test_jobs_cleanup_people_json_and_bad_argument(aged: str, invoke) -> None:  # type: ignore[no-untyped-def]
    people = invoke("jobs", "cleanup", "--older-than", "86400", "--store", aged)
    assert people.exit_code == 0, people.stderr
    assert "deleted 2 done job(s) finished more than 86400 s (24.0h) ago" in people.stdout
    again = invoke("jobs", "cleanup", "--older-than", "86400", "--store", aged, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == {
        "deleted": 0,
        "older_than_s": 86400.0,
    }
    stats = json.loads(invoke("jobs", "stats", "--store", aged, "--json").stdout)
    assert [(s["queue"], s["done"], s["dead"]) for s in stats] == [("reports", 1, 1)]
    for bad, message in (("-5", "0 or more"), ("nan", "finite"), ("soon", "not a duration")):
        result = invoke("jobs", "cleanup", "--older-than", bad, "--store", aged)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    for text in ("7d", "168h", "10080m", "1w"):  # a week, as people write it
        week = invoke("jobs", "cleanup", "--older-than", text, "--store", aged, "--json")
        assert week.exit_code == 0 and json.loads(week.stdout)["older_than_s"] == 604800.0
    missing = invoke("jobs", "cleanup", "--store", aged)
    assert missing.exit_code == 2 and "--older-than" in missing.stderr
    nowhere = invoke("jobs", "cleanup", "--older-than", "60")
    assert nowhere.exit_code == 2 and "pass --store URL or --config" in nowhere.stderr


def test_events_cleanup_people_json_refusal_and_config(aged: str, invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = str(write_config(tmp_path / "seawall.toml", aged))  # tolerance_s 300 by default
    refused = invoke("events", "cleanup", "--older-than", "599", "--config", config)
    assert refused.exit_code == 2
    assert "refusing to purge events younger than 600 s" in refused.stderr
    people = invoke("events", "cleanup", "--older-than", "600", "--config", config)
    assert people.exit_code == 0, people.stderr
    assert "deleted 2 processed or unhandled event(s)" in people.stdout
    again = invoke("events", "cleanup", "--older-than", "600", "--config", config, "--json")
    assert json.loads(again.stdout) == {
        "deleted": 0,
        "older_than_s": 600.0,
        "statuses": ["processed", "unhandled"],
    }
    listed = json.loads(invoke("events", "list", "--store", aged, "--json").stdout)
    assert sorted(e["status"] for e in listed) == ["dead", "failed", "received"]
    (tmp_path / "seawall.toml").unlink()  # no ./seawall.toml either: the tolerances are unknown
    without = invoke("events", "cleanup", "--older-than", "600", "--store", aged)
    assert without.exit_code == 2 and "pass --config seawall.toml" in without.stderr
