"""/healthz, /readyz (fails when the database is down or behind) and /metrics (parsed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from seawall.http import CallRecord
from seawall.observability.metrics import SeawallMetrics
from seawall.ops.breakers import BreakerRegistry
from seawall.resilience.breaker import CircuitBreaker
from seawall.service.assemble import build_service
from seawall.store import open_store
from seawall.testing import FakeClock
from tests.ops import seed


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_ready_and_metrics_on_a_live_service(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/svc.db"
    metrics, registry = SeawallMetrics(), BreakerRegistry()
    breaker = registry.register(CircuitBreaker(name="payments-api", clock=FakeClock()))
    breaker.trip()  # type: ignore[attr-defined]
    app = build_service(
        seed.webhook_config(url), with_worker=False, metrics=metrics, registry=registry
    )
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        asyncio.run(_fill(url))
        body = _signed_bad_request()
        assert (
            client.post(
                seed.PATH, content=body, headers={"x-signature": "0" * 64, "x-timestamp": "1"}
            ).status_code
            == 400
        )
        metrics.on_call(
            CallRecord(
                method="POST",
                host="api.example",
                route="*",
                url="https://api.example/v1/payments",
                status=503,
                outcome="server_error",
                attempts=3,
                elapsed=0.25,
                idempotency_key="o1-charge",
            )
        )
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    s = _samples(answer.text)
    assert s[("seawall_queue_dead_letters", (("queue", "emails"),))] == 2
    assert s[("seawall_queue_ready", (("queue", "seawall.webhooks"),))] == 2
    assert (
        s[("seawall_webhooks_received_total", (("outcome", "rejected"), ("source", seed.SOURCE)))]
        == 1
    )
    assert (
        s[
            (
                "seawall_webhook_verification_failures_total",
                (("reason", "stale_timestamp"), ("source", seed.SOURCE)),
            )
        ]
        == 1
    )
    assert s[("seawall_breaker_state", (("breaker", "payments-api"), ("state", "OPEN")))] == 1
    assert s[("seawall_breaker_state", (("breaker", "payments-api"), ("state", "CLOSED")))] == 0
    assert (
        s[
            (
                "seawall_outbound_calls_total",
                (("host", "api.example"), ("outcome", "server_error"), ("status", "503")),
            )
        ]
        == 1
    )
    assert s[("seawall_retries_total", (("policy", "http:api.example"),))] == 2
    assert s[("seawall_outbound_call_duration_seconds_count", (("host", "api.example"),))] == 1
    assert s[("seawall_store_up", ())] == 1


async def _fill(url: str) -> None:
    store = open_store(url)
    try:
        await seed.dead_letters(store, 2)
        await seed.events(store, 2)
    finally:
        await store.close()


def _signed_bad_request() -> bytes:
    return b'{"id":"evt_x","type":"payment.completed"}'


def test_readyz_fails_when_the_database_is_down(tmp_path: Path) -> None:
    config = seed.webhook_config("postgresql://postgres@127.0.0.1:1/nothing")
    store = open_store("postgresql://postgres@127.0.0.1:1/nothing", connect_timeout_s=1.0)
    app = build_service(
        config, store=store, with_worker=False, metrics=SeawallMetrics(), registry=BreakerRegistry()
    )
    client = TestClient(app)  # no lifespan: the database is down from the start
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert "cannot connect to PostgreSQL" in ready.json()["reason"]
    assert client.get("/healthz").status_code == 200
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert _samples(scraped.text)[("seawall_store_up", ())] == 0


def test_readyz_fails_when_migrations_are_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/behind.db"
    app = build_service(
        seed.webhook_config(url, store={"url": url, "migrate_on_start": False}),
        with_worker=False,
        metrics=SeawallMetrics(),
        registry=BreakerRegistry(),
    )
    with TestClient(app) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "run `seawall migrate`" in ready.json()["reason"]
    assert ready.json()["schema"]["have"] < ready.json()["schema"]["known"]
