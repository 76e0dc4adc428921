"""`events list|show|replay`."""

from __future__ import annotations

import json

from tests.cli.conftest import Seeded
from tests.ops.seed import SOURCE


def test_events_list_people_json_and_filters(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    people = invoke("events", "list", "--store", seeded.url)
    assert people.exit_code == 0
    assert all(event_id in people.stdout for event_id in seeded.events)
    listed = json.loads(invoke("events", "list", "--config", str(seeded.config), "--json").stdout)
    assert {e["event_id"] for e in listed} == set(seeded.events)
    assert all(e["status"] == "received" and "body" not in e for e in listed)
    none = json.loads(
        invoke("events", "list", "--store", seeded.url, "--status", "dead", "--json").stdout
    )
    assert none == []
    typed = invoke("events", "list", "--store", seeded.url, "--type", "nope.nothing")
    assert "no events match" in typed.stdout
    limited = json.loads(
        invoke("events", "list", "--store", seeded.url, "--limit", "2", "--json").stdout
    )
    assert len(limited) == 2


def test_events_list_rejects_unknown_status(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("events", "list", "--store", seeded.url, "--status", "exploded")
    assert result.exit_code == 2 and "exploded" in result.stderr


def test_events_show(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    people = invoke("events", "show", SOURCE, "evt_0001", "--store", seeded.url)
    assert people.exit_code == 0
    assert '"amount": 101' in people.stdout and "x-signature:" in people.stdout
    data = json.loads(
        invoke("events", "show", SOURCE, "evt_0001", "--store", seeded.url, "--json").stdout
    )
    assert json.loads(data["body"]) == {
        "id": "evt_0001",
        "type": "payment.completed",
        "amount": 101,
    }
    missing = invoke("events", "show", SOURCE, "evt_9999", "--store", seeded.url)
    assert missing.exit_code == 1 and "no event 'evt_9999'" in missing.stderr


def test_events_replay_needs_config_then_enqueues(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    without = invoke("events", "replay", SOURCE, "evt_0000", "--store", seeded.url)
    assert without.exit_code == 1 and "pass --config" in without.stderr
    before = json.loads(
        invoke("events", "show", SOURCE, "evt_0000", "--store", seeded.url, "--json").stdout
    )
    replayed = invoke(
        "events", "replay", SOURCE, "evt_0000", "--config", str(seeded.config), "--json"
    )
    assert replayed.exit_code == 0, replayed.stderr
    job_id = json.loads(replayed.stdout)["job_id"]
    after = json.loads(
        invoke("events", "show", SOURCE, "evt_0000", "--store", seeded.url, "--json").stdout
    )
    assert after["job_id"] == job_id != before["job_id"]
    missing = invoke("events", "replay", SOURCE, "evt_9999", "--config", str(seeded.config))
    assert missing.exit_code == 1 and "no event" in missing.stderr
