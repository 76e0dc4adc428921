"""The operator commands on the AWS stores (`--store aws`): a DynamoDB inbox, an SQS queue and
its dead-letter queue on the moto server, named by the environment as on an operator's laptop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.aws.deployed import Deployed, deploy
from tests.serving import free_port

SRC = str(Path(__file__).resolve().parents[2] / "src")

pytest.importorskip("boto3")
pytest.importorskip("moto.server")


@pytest.fixture
def deployed(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    """Four events (received, processed, dead) and two dead-letter messages."""
    return deploy(aws_endpoint, monkeypatch)


def test_events_list_filters_by_status_and_source(invoke, deployed: Deployed) -> None:  # type: ignore[no-untyped-def]
    everything = invoke("events", "list", "--store", "aws", "--json")
    assert everything.exit_code == 0, everything.output
    listed = json.loads(everything.output)
    assert [e["event_id"] for e in listed] == ["gh_1", "evt_dead", "evt_done", "evt_received"]
    assert all(e.get("body") is None for e in listed)

    dead = json.loads(
        invoke("events", "list", "--store", "aws", "--status", "dead", "--json").output
    )
    assert [(e["event_id"], e["status"], e["last_error"]) for e in dead] == [
        ("evt_dead", "dead", "handler failed: boom")
    ]
    github = invoke("events", "list", "--store", "aws", "--source", "github")
    assert "gh_1" in github.output and "evt_" not in github.output
    paged = json.loads(
        invoke("events", "list", "--store", "aws", "--limit", "2", "--offset", "1", "--json").output
    )
    assert [e["event_id"] for e in paged] == ["evt_dead", "evt_done"]


def test_the_environment_selects_the_aws_store(
    invoke, deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SEAWALL_OPS_STORE", "aws")
    result = invoke("events", "list", "--status", "processed", "--json")
    assert result.exit_code == 0, result.output
    assert [e["event_id"] for e in json.loads(result.output)] == ["evt_done"]


def test_events_show_prints_status_headers_and_body(invoke, deployed: Deployed) -> None:  # type: ignore[no-untyped-def]
    result = invoke("events", "show", "stripe", "evt_done", "--store", "aws")
    assert result.exit_code == 0, result.output
    assert "status=processed" in result.output
    assert "job job-evt_done" in result.output
    assert '"amount": 42' in result.output
    assert "x-a: 1" in result.output


def test_bad_input_gets_a_clear_message(invoke, deployed: Deployed) -> None:  # type: ignore[no-untyped-def]
    unknown = invoke("events", "show", "stripe", "evt_nope", "--store", "aws")
    assert unknown.exit_code == 1
    assert "no event 'evt_nope' from source 'stripe'" in unknown.output
    assert "Traceback" not in unknown.output

    nul = invoke("events", "list", "--store", "aws", "--source", "a\x00b")
    assert nul.exit_code == 1
    assert "cannot hold NUL" in nul.output

    huge = invoke("events", "list", "--store", "aws", "--limit", "100000000")
    assert huge.exit_code == 2
    assert "--limit" in huge.output

    for source, event_id in (("", "evt_done"), ("stripe", "x" * 2000)):
        beyond = invoke("events", "show", source, event_id, "--store", "aws")
        assert beyond.exit_code == 1 and "no event" in beyond.output, beyond.output

    replay = invoke("events", "replay", "stripe", "evt_nope", "--store", "aws")
    assert replay.exit_code == 1 and "no event 'evt_nope'" in replay.output

    dead = invoke("dlq", "show", "no-such-message", "--store", "aws")
    assert dead.exit_code == 1 and "not in the dead-letter queue" in dead.output


def test_sql_only_commands_say_what_aws_does_instead(invoke, deployed: Deployed) -> None:  # type: ignore[no-untyped-def]
    result = invoke("jobs", "cleanup", "--older-than", "1d", "--store", "aws")
    assert result.exit_code == 1
    assert "needs a SQLite or PostgreSQL store" in result.output
    assert "SQS deletes finished jobs" in result.output


def test_a_missing_deployment_prefix_is_named(
    invoke, deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SEAWALL_AWS_PREFIX")
    result = invoke("jobs", "stats", "--store", "aws")
    assert result.exit_code == 2
    assert "SEAWALL_AWS_PREFIX" in result.output


def test_replay_resets_the_event_and_queues_it(invoke, deployed: Deployed) -> None:  # type: ignore[no-untyped-def]
    result = invoke("events", "replay", "stripe", "evt_dead", "--store", "aws", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["event_id"] == "evt_dead" and answer["job_id"]

    shown = json.loads(
        invoke("events", "show", "stripe", "evt_dead", "--store", "aws", "--json").output
    )
    assert shown["status"] == "received"
    assert shown["last_error"] is None
    assert deployed.bodies(deployed.urls.queue) == [{"source": "stripe", "event_id": "evt_dead"}]


def test_dlq_list_is_one_view_of_dead_messages_and_dead_events(invoke, deployed: Deployed) -> None:  # type: ignore[no-untyped-def]
    result = invoke("dlq", "list", "--store", "aws", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    jobs = [d for d in listed if "kind" not in d]
    events = [d for d in listed if d.get("kind") == "webhook_event"]
    assert sorted(j["id"] for j in jobs) == sorted(deployed.dead_ids)
    assert {j["queue"] for j in jobs} == {deployed.names.queue}
    assert [e["event_id"] for e in events] == ["evt_dead"]

    one = invoke("dlq", "show", deployed.dead_ids[0], "--store", "aws", "--json")
    assert one.exit_code == 0, one.output
    assert json.loads(one.output)["payload"]["source"] == "stripe"


def test_stats_then_redrive_moves_the_dead_letter_queue_back(invoke, deployed: Deployed) -> None:  # type: ignore[no-untyped-def]
    before = json.loads(invoke("jobs", "stats", "--store", "aws", "--json").output)
    assert [(s["queue"], s["ready"], s["dead"]) for s in before] == [(deployed.names.queue, 0, 2)]

    picked = invoke("dlq", "redrive", deployed.dead_ids[0], "--store", "aws")
    assert picked.exit_code == 1
    assert "whole dead-letter queue" in picked.output

    result = invoke("dlq", "redrive", "--all", "--store", "aws", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"redriven": 2, "not_found": 0}
    assert deployed.count(deployed.urls.dead_letter_queue) == 0
    after = json.loads(invoke("jobs", "stats", "--store", "aws", "--json").output)
    assert [(s["ready"], s["dead"]) for s in after] == [(2, 0)]
    assert sorted(b["event_id"] for b in deployed.bodies(deployed.urls.queue)) == [
        "lost_0",
        "lost_1",
    ]


def test_the_dashboard_command_serves_the_aws_stores(deployed: Deployed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`seawall dashboard --store aws` as a process of its own, asked over HTTP."""
    port = free_port()
    env = {**os.environ, "SEAWALL_DASHBOARD__TOKEN": "cli-dash-token", "PYTHONPATH": SRC}
    command = [sys.executable, "-m", "seawall", "dashboard", "--store", "aws", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0].decode()
            try:
                page = httpx.get(
                    f"{base}/dashboard/dlq",
                    headers={"Authorization": "Bearer cli-dash-token"},
                    timeout=10,
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.1)
        assert page.status_code == 200
        assert all(message_id in page.text for message_id in deployed.dead_ids)
    finally:
        process.terminate()
        process.wait(20)


def test_the_dashboard_command_needs_a_token(invoke, deployed: Deployed) -> None:  # type: ignore[no-untyped-def]
    result = invoke("dashboard", "--store", "aws")
    assert result.exit_code == 2
    assert "SEAWALL_DASHBOARD__TOKEN" in result.output
