"""`jobs stats` and `dlq list|show|redrive|purge`, for people and for scripts."""

from __future__ import annotations

import json

from tests.cli.conftest import Seeded


def test_jobs_stats_table_and_json(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    people = invoke("jobs", "stats", "--store", seeded.url)
    assert people.exit_code == 0, people.stderr
    assert "emails" in people.stdout and "seawall.webhooks" in people.stdout
    data = json.loads(invoke("jobs", "stats", "--store", seeded.url, "--json").stdout)
    by_queue = {row["queue"]: row for row in data}
    assert by_queue["emails"]["dead"] == 2
    assert by_queue["seawall.webhooks"]["ready"] == 3


def test_dlq_list_and_show(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    people = invoke("dlq", "list", "--store", seeded.url)
    assert people.exit_code == 0
    for job_id in seeded.dead:
        assert job_id in people.stdout
    assert "SMTP 550" in people.stdout
    listed = json.loads(invoke("dlq", "list", "--store", seeded.url, "--json").stdout)
    assert sorted(d["id"] for d in listed) == sorted(seeded.dead)
    assert listed[0]["errors"][0]["error"].startswith("SMTP 550")
    shown = invoke("dlq", "show", seeded.dead[0], "--store", seeded.url)
    assert shown.exit_code == 0
    assert "payload:" in shown.stdout and "Traceback: x" in shown.stdout
    as_json = json.loads(
        invoke("dlq", "show", seeded.dead[0], "--config", str(seeded.config), "--json").stdout
    )
    assert as_json["id"] == seeded.dead[0] and as_json["payload"] == {"n": 0}


def test_dlq_show_unknown_job_is_a_clear_error(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("dlq", "show", "no-such-job", "--store", seeded.url)
    assert result.exit_code == 1
    assert "not in the dead-letter queue" in result.stderr
    assert "Traceback" not in result.output


def test_dlq_redrive_one_then_all(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    one = invoke("dlq", "redrive", seeded.dead[0], "--store", seeded.url, "--json")
    assert one.exit_code == 0 and json.loads(one.stdout) == {"redriven": 1, "not_found": 0}
    stats = {
        r["queue"]: r
        for r in json.loads(invoke("jobs", "stats", "--store", seeded.url, "--json").stdout)
    }
    assert stats["emails"]["dead"] == 1 and stats["emails"]["ready"] == 1
    again = invoke("dlq", "redrive", seeded.dead[0], "--store", seeded.url)
    assert again.exit_code == 1 and "1 id(s) not in the DLQ" in again.stdout
    rest = invoke(
        "dlq", "redrive", "--all", "--queue", "emails", "--rate", "10", "--store", seeded.url
    )
    assert rest.exit_code == 0 and "redrove 1 job(s)" in rest.stdout
    assert json.loads(invoke("dlq", "list", "--store", seeded.url, "--json").stdout) == []


def test_dlq_redrive_needs_targets(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("dlq", "redrive", "--store", seeded.url)
    assert result.exit_code == 2 and "give one or more job ids, or --all" in result.stderr
    both = invoke("dlq", "redrive", "x", "--all", "--store", seeded.url)
    assert both.exit_code == 2 and "not both" in both.stderr
    rate = invoke("dlq", "redrive", "--all", "--rate", "0", "--store", seeded.url)
    assert rate.exit_code == 2 and "--rate" in rate.stderr


def test_dlq_purge_by_id_and_all(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    one = invoke("dlq", "purge", seeded.dead[0], "--store", seeded.url, "--json")
    assert one.exit_code == 0 and json.loads(one.stdout) == {"purged": 1}
    refused = invoke("dlq", "purge", "--all", "--store", seeded.url, input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.stderr
    assert len(json.loads(invoke("dlq", "list", "--store", seeded.url, "--json").stdout)) == 1
    everything = invoke("dlq", "purge", "--all", "--yes", "--store", seeded.url)
    assert everything.exit_code == 0 and "purged 1 job(s)" in everything.stdout
    empty = invoke("dlq", "list", "--store", seeded.url)
    assert "the dead-letter queue is empty" in empty.stdout


def test_dlq_list_shows_dead_webhook_events_too(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    """One dead-letter view: a webhook whose processing was given up on is listed with jobs."""
    import asyncio

    from seawall.store import open_store
    from seawall.webhooks.inbox import mark_dead

    async def kill_one() -> None:
        store = open_store(seeded.url)
        try:
            async with store.transaction() as tx:
                await mark_dead(
                    tx,
                    [("payment-provider", seeded.events[0], "job-x", 5)],
                    "receive limit reached",
                    1.0,
                )
        finally:
            await store.close()

    asyncio.run(kill_one())
    people = invoke("dlq", "list", "--store", seeded.url)
    assert people.exit_code == 0
    assert f"payment-provider/{seeded.events[0]}" in people.stdout.replace("\n", "")
    listed = json.loads(invoke("dlq", "list", "--store", seeded.url, "--json").stdout)
    events = [d for d in listed if d.get("kind") == "webhook_event"]
    assert [e["event_id"] for e in events] == [seeded.events[0]]
    assert events[0]["last_error"] == "receive limit reached"
    assert len(listed) == len(seeded.dead) + 1
