"""Metrics recorded directly, rendered and parsed back with prometheus_client's parser."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from seawall.jobs import QueueStats, WorkerEvent
from seawall.observability.metrics import SeawallMetrics
from seawall.observability.tracing import OTEL_AVAILABLE, span
from seawall.resilience.events import ResilienceEvent


def _values(metrics: SeawallMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.render().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


class Stats:
    """Per-source counters shaped like seawall.webhooks.WebhookStats."""

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter({"stripe": 5})
        self.duplicates: Counter[str] = Counter({"stripe": 1})
        self.rejected: Counter[tuple[str, str]] = Counter(
            {("stripe", "bad_signature"): 2, ("stripe", "body_too_large"): 1}
        )
        self.store_errors: Counter[str] = Counter()


async def test_everything_renders_and_parses() -> None:
    metrics = SeawallMetrics()
    metrics.add_webhook_stats(Stats())
    metrics.webhook_received("github", "accepted")
    metrics.webhook_received("github", "stale_timestamp")

    async def stats() -> list[QueueStats]:
        return [QueueStats("emails", 4, 1, 2, 10, 3, 7.5)]

    await metrics.refresh_queue(stats)
    metrics.worker_event(WorkerEvent(kind="processed", queue="emails", count=3))
    metrics.resilience_listener(ResilienceEvent(kind="retry", policy="ledger", attempt=1))
    metrics.job_finished("emails", 0.02, "ok")
    metrics.set_breaker_provider(lambda: [("ledger", "HALF_OPEN")])
    v = _values(metrics)
    L = frozenset
    assert (
        v[("seawall_webhooks_received_total", L({("source", "stripe"), ("outcome", "accepted")}))]
        == 5
    )
    assert (
        v[("seawall_webhooks_received_total", L({("source", "stripe"), ("outcome", "rejected")}))]
        == 3
    )
    assert (
        v[("seawall_webhooks_received_total", L({("source", "github"), ("outcome", "rejected")}))]
        == 1
    )
    assert (
        v[
            (
                "seawall_webhook_verification_failures_total",
                L({("source", "stripe"), ("reason", "bad_signature")}),
            )
        ]
        == 2
    )
    assert (
        "seawall_webhook_verification_failures_total",
        L({("source", "stripe"), ("reason", "body_too_large")}),
    ) not in v
    assert v[("seawall_queue_ready", L({("queue", "emails")}))] == 4
    assert v[("seawall_queue_in_flight", L({("queue", "emails")}))] == 1
    assert v[("seawall_queue_dead_letters", L({("queue", "emails")}))] == 3
    assert v[("seawall_queue_oldest_ready_age_seconds", L({("queue", "emails")}))] == 7.5
    assert v[("seawall_jobs_total", L({("queue", "emails"), ("kind", "processed")}))] == 3
    assert v[("seawall_retries_total", L({("policy", "ledger")}))] == 1
    assert (
        v[("seawall_job_duration_seconds_count", L({("queue", "emails"), ("outcome", "ok")}))] == 1
    )
    assert v[("seawall_breaker_state", L({("breaker", "ledger"), ("state", "HALF_OPEN")}))] == 1


def test_each_instance_has_its_own_registry() -> None:
    a, b = SeawallMetrics(), SeawallMetrics()
    a.webhook_received("x", "accepted")
    assert (
        "seawall_webhooks_received_total",
        frozenset({("source", "x"), ("outcome", "accepted")}),
    ) not in _values(b)


def test_recent_calls_ring_is_bounded() -> None:
    class Call:
        method, host, route, url, status, outcome, attempts, elapsed = (
            "GET",
            "h",
            "*",
            "http://h/v1/payments?api_key=%2A%2A%2A",
            200,
            "ok",
            1,
            0.01,
        )

    metrics = SeawallMetrics(recent_calls=3)
    for _ in range(5):
        metrics.on_call(Call())
    calls = metrics.recent_calls.newest_first()
    assert len(calls) == 3 and calls[0].duration_ms == 10.0
    assert calls[0].path == "/v1/payments"  # the called path, not the route pattern


def test_span_is_usable_with_or_without_opentelemetry() -> None:
    with span("seawall.test", source="stripe", event_id=None) as current:
        if not OTEL_AVAILABLE:
            assert current is None
