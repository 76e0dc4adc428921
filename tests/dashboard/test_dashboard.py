"""The dashboard: login, overview, events (filter, detail, replay), DLQ actions, CSRF."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from seawall.observability.metrics import SeawallMetrics
from seawall.ops.breakers import BreakerRegistry
from seawall.service.assemble import build_service
from tests.dashboard.conftest import TOKEN, Dash, csrf_of, login
from tests.ops import seed
from tests.ops.seed import SOURCE


def test_pages_need_login(dash: Dash) -> None:
    page = dash.client.get("/dashboard", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/dashboard/login"
    wrong = dash.client.get("/dashboard", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = dash.client.get("/dashboard", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and "Dead letters" in right.text
    post = dash.client.post("/dashboard/dlq/redrive", data={"all": "1"})
    assert post.status_code == 401


def test_login_form_rejects_wrong_token_and_missing_csrf(dash: Dash) -> None:
    form = dash.client.get("/dashboard/login")
    wrong = dash.client.post(
        "/dashboard/login", data={"token": "guess", "csrf": csrf_of(form.text)}
    )
    assert wrong.status_code == 401 and "Wrong token" in wrong.text
    dash.client.cookies.clear()
    forged = dash.client.post("/dashboard/login", data={"token": TOKEN, "csrf": "x"})
    assert forged.status_code == 403
    assert "seawall_session" not in dash.client.cookies
    login(dash.client)
    session = dash.client.cookies.get("seawall_session")
    assert session and session.startswith("v1.")
    tampered = session[:-1] + ("0" if session[-1] != "0" else "1")
    dash.client.cookies.set("seawall_session", tampered)
    assert dash.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_overview_shows_numbers_and_chart(dash: Dash) -> None:
    login(dash.client)
    page = dash.client.get("/dashboard")
    assert page.status_code == 200
    cards = dict(re.findall(r'data-metric="(\w+)">[^<]*<b>([^<]*)</b>', page.text))
    assert cards["dlq"] == "2"
    assert cards["depth"] == "3"
    assert cards["ingest"].endswith("/s") and float(cards["ingest"][:-2]) > 0
    assert "<svg" in page.text and "<polyline" in page.text
    assert "emails" in page.text and "seawall.webhooks" in page.text


def test_events_filter_and_detail(dash: Dash) -> None:
    login(dash.client)
    listing = dash.client.get("/dashboard/events")
    assert all(event_id in listing.text for event_id in dash.events)
    dead = dash.client.get("/dashboard/events", params={"status": "dead"})
    assert "No events match." in dead.text
    by_source = dash.client.get("/dashboard/events", params={"source": "other"})
    assert "No events match." in by_source.text
    detail = dash.client.get(f"/dashboard/events/{SOURCE}/evt_0002")
    assert detail.status_code == 200
    assert "payment.completed" in detail.text and "&quot;amount&quot;: 102" in detail.text
    assert "x-signature" in detail.text and 'data-action="replay"' in detail.text
    missing = dash.client.get(f"/dashboard/events/{SOURCE}/evt_nope")
    assert missing.status_code == 404 and "no event" in missing.text


def test_replay_needs_csrf_then_enqueues(dash: Dash) -> None:
    login(dash.client)
    detail = dash.client.get(f"/dashboard/events/{SOURCE}/evt_0000")
    before = re.search(r"/dashboard/jobs/(\w+)", detail.text)  # the first job is unnamed
    action = f"/dashboard/events/{SOURCE}/evt_0000/replay"
    assert dash.client.post(action, data={}).status_code == 403
    assert dash.client.post(action, data={"csrf": "forged"}).status_code == 403
    done = dash.client.post(action, data={"csrf": csrf_of(detail.text)}, follow_redirects=False)
    assert done.status_code == 303 and "Replayed" in done.headers["location"]
    after = dash.client.get(done.headers["location"])
    job_after = re.search(r"/dashboard/jobs/(\w+)", after.text)
    assert job_after and (before is None or job_after.group(1) != before.group(1))
    assert "Replayed: new job" in after.text


def test_dlq_redrive_one_all_and_purge(dash: Dash) -> None:
    login(dash.client)
    page = dash.client.get("/dashboard/dlq")
    assert all(job_id in page.text for job_id in dash.dead) and "SMTP 550" in page.text
    csrf = csrf_of(page.text)
    assert dash.client.post("/dashboard/dlq/redrive", data={"id": dash.dead[0]}).status_code == 403
    one = dash.client.post("/dashboard/dlq/redrive", data={"id": dash.dead[0], "csrf": csrf})
    assert "Redrove 1 job(s)" in one.text
    assert dash.dead[0] not in one.text.split("<table")[-1] or "empty" in one.text
    job = dash.client.get(f"/dashboard/jobs/{dash.dead[0]}")
    assert "data-job-state>pending<" in job.text
    nothing = dash.client.post("/dashboard/dlq/redrive", data={"csrf": csrf})
    assert "choose a dead letter" in nothing.text
    purged = dash.client.post("/dashboard/dlq/purge", data={"all": "1", "csrf": csrf})
    assert "Purged 1 job(s)" in purged.text and "The dead-letter queue is empty." in purged.text
    assert dash.client.get(f"/dashboard/jobs/{dash.dead[1]}").status_code == 404


def test_dlq_redrive_all_by_bearer_without_csrf(dash: Dash) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    moved = dash.client.post(
        "/dashboard/dlq/redrive", data={"all": "1", "queue": "emails"}, headers=auth
    )
    assert moved.status_code == 200 and "Redrove 2 job(s)" in moved.text


def test_logout_ends_the_session(dash: Dash) -> None:
    login(dash.client)
    page = dash.client.get("/dashboard")
    out = dash.client.post(
        "/dashboard/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert out.status_code == 303
    assert dash.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_dashboard_off_without_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = seed.webhook_config(f"sqlite:///{tmp_path}/off.db")
    app = build_service(
        config, with_worker=False, metrics=SeawallMetrics(), registry=BreakerRegistry()
    )
    with TestClient(app) as client:
        assert client.get("/dashboard").status_code == 404
        assert client.get("/dashboard/login").status_code == 404
        assert client.get("/healthz").status_code == 200
