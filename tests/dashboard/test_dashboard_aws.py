"""The dashboard over the AWS stores (`seawall dashboard --store aws`'s app) on real HTTP: uvicorn
on 127.0.0.1, the DynamoDB inbox, SQS queue and dead-letter queue on the moto server."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import unquote

import httpx
import pytest

from seawall.dashboard.app import dashboard_app
from seawall.observability.metrics import SeawallMetrics
from seawall.ops.breakers import BreakerRegistry
from tests.aws.deployed import Deployed, deploy
from tests.serving import serve_in_thread

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

TOKEN = "aws-dash-token-456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def deployed(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    """Four events (received, processed, dead) and two dead-letter messages."""
    return deploy(aws_endpoint, monkeypatch)


@pytest.fixture
def client(deployed: Deployed) -> Iterator[httpx.Client]:
    """A client of the dashboard served over the AWS stores."""
    app = dashboard_app("aws", TOKEN, metrics=SeawallMetrics(), registry=BreakerRegistry())
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield http


def test_login_then_overview_shows_sqs_depths(client: httpx.Client, deployed: Deployed) -> None:
    form = client.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf
    logged = client.post("/dashboard/login", data={"token": TOKEN, "csrf": csrf.group(1)})
    assert logged.status_code == 303, logged.text
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert re.search(r'data-metric="dlq">Dead letters<b>2</b>', page.text)
    assert re.search(r'data-metric="depth">Queue depth<b>0</b>', page.text)
    assert deployed.names.queue in page.text
    assert "CloudWatch" in page.text


def test_events_filter_and_detail(client: httpx.Client) -> None:
    dead = client.get("/dashboard/events", params={"status": "dead"}, headers=AUTH)
    assert dead.status_code == 200
    assert "evt_dead" in dead.text and "evt_done" not in dead.text
    assert "handler failed: boom" in dead.text

    detail = client.get("/dashboard/events/stripe/evt_done", headers=AUTH)
    assert detail.status_code == 200
    assert "<span data-status>processed</span>" in detail.text
    assert '"amount": 42' in html.unescape(detail.text)


def test_bad_input_is_a_4xx(client: httpx.Client) -> None:
    unknown = client.get("/dashboard/events/stripe/evt_nope", headers=AUTH)
    assert unknown.status_code == 404 and "no event" in unknown.text
    nul = client.get("/dashboard/events", params={"source": "a\x00b"}, headers=AUTH)
    assert nul.status_code == 400 and "cannot hold NUL" in nul.text
    huge = client.get("/dashboard/events", params={"offset": "99999999999"}, headers=AUTH)
    assert huge.status_code == 400
    long = client.get(f"/dashboard/events/stripe/{'x' * 2000}", headers=AUTH)
    assert long.status_code == 404
    job = client.get("/dashboard/jobs/no-such-message", headers=AUTH)
    assert job.status_code == 404


def test_replay_from_the_event_page(client: httpx.Client, deployed: Deployed) -> None:
    answer = client.post(
        "/dashboard/events/stripe/evt_dead/replay", headers=AUTH, follow_redirects=False
    )
    assert answer.status_code == 303
    assert "Replayed" in unquote(answer.headers["location"].replace("+", " "))
    event = client.get("/dashboard/events/stripe/evt_dead", headers=AUTH)
    assert "<span data-status>received</span>" in event.text
    assert deployed.bodies(deployed.urls.queue) == [{"source": "stripe", "event_id": "evt_dead"}]


def test_dlq_page_job_page_and_redrive_all(client: httpx.Client, deployed: Deployed) -> None:
    page = client.get("/dashboard/dlq", headers=AUTH)
    assert page.status_code == 200
    for message_id in deployed.dead_ids:
        assert message_id in page.text
    job = client.get(f"/dashboard/jobs/{deployed.dead_ids[0]}", headers=AUTH)
    assert job.status_code == 200 and "<span data-job-state>dead</span>" in job.text

    one = client.post(
        "/dashboard/dlq/redrive",
        data={"id": deployed.dead_ids[0]},
        headers={**AUTH, "referer": "/dashboard/dlq"},
        follow_redirects=False,
    )
    assert one.status_code == 303
    assert "whole dead-letter queue" in unquote(one.headers["location"].replace("+", " "))
    assert deployed.count(deployed.urls.dead_letter_queue) == 2

    moved = client.post(
        "/dashboard/dlq/redrive", data={"all": "1"}, headers=AUTH, follow_redirects=False
    )
    assert moved.status_code == 303
    assert "Redrove 2 job(s)" in unquote(moved.headers["location"].replace("+", " "))
    assert deployed.count(deployed.urls.dead_letter_queue) == 0
    assert deployed.count(deployed.urls.queue) == 2
