"""Prometheus metrics in a dedicated registry: webhooks, verification, queue, jobs, calls, breakers.

Queue gauges are read from `Queue.stats()` when `/metrics` is scraped (`await refresh_queue(...)`
just before rendering), so every process reports the shared database's true depth. Breaker states
come from a provider callable (the ops breaker registry) and webhook counts from the receivers'
`WebhookStats` counters (`add_webhook_stats`), both read at scrape time, so the webhook layer needs
no metrics code of its own.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from seawall.observability.activity import RecentCall, RecentCalls

__all__ = [
    "BREAKER_STATES",
    "CONTENT_TYPE",
    "CallInfo",
    "QueueStatsLike",
    "SeawallMetrics",
    "get_metrics",
    "set_metrics",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES = ("CLOSED", "OPEN", "HALF_OPEN")
VERIFICATION_REASONS = frozenset(
    {
        "missing_header",
        "malformed_header",
        "no_secret",
        "bad_signature",
        "stale_timestamp",
        "future_timestamp",
        "invalid_timestamp",
    }
)
"""Rejection reasons that are signature-verification failures (FailureReason values)."""


class CallInfo(Protocol):
    """What an outbound-call record carries (seawall.http's CallRecord has these fields)."""

    @property
    def method(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def route(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def elapsed(self) -> float: ...


class QueueStatsLike(Protocol):
    """One queue's numbers as `Queue.stats()` reports them."""

    queue: str
    ready: int
    in_flight: int
    delayed: int
    done: int
    dead: int
    oldest_ready_age_s: float | None


class WebhookCounts(Protocol):
    """Per-source webhook counters (seawall.webhooks' WebhookStats has these)."""

    @property
    def accepted(self) -> Mapping[str, int]: ...
    @property
    def duplicates(self) -> Mapping[str, int]: ...
    @property
    def rejected(self) -> Mapping[tuple[str, str], int]: ...
    @property
    def store_errors(self) -> Mapping[str, int]: ...


class _OwnWebhookCounts:
    """Counts recorded through `SeawallMetrics.webhook_received` / `verification_failed`."""

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.rejected: Counter[tuple[str, str]] = Counter()
        self.store_errors: Counter[str] = Counter()


class _ScrapeTimeCollector(Collector):
    """Yields queue and breaker gauges from the latest snapshot at each collection."""

    def __init__(self, owner: SeawallMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        """Produce gauge families from the current snapshots."""
        stats = self.owner.queue_snapshot()
        families = {
            "ready": GaugeMetricFamily(
                "seawall_queue_ready", "Jobs ready to be claimed", labels=["queue"]
            ),
            "in_flight": GaugeMetricFamily(
                "seawall_queue_in_flight", "Jobs claimed under a lease", labels=["queue"]
            ),
            "delayed": GaugeMetricFamily(
                "seawall_queue_delayed", "Jobs waiting for their delay", labels=["queue"]
            ),
            "dead": GaugeMetricFamily(
                "seawall_queue_dead_letters", "Jobs in the dead-letter queue", labels=["queue"]
            ),
        }
        age = GaugeMetricFamily(
            "seawall_queue_oldest_ready_age_seconds",
            "Age of the oldest ready job",
            labels=["queue"],
        )
        for item in stats:
            for field, family in families.items():
                family.add_metric([item.queue], float(getattr(item, field)))
            age.add_metric([item.queue], float(item.oldest_ready_age_s or 0.0))
        yield from families.values()
        yield age
        breaker = GaugeMetricFamily(
            "seawall_breaker_state",
            "1 for the state each circuit breaker is in, 0 for the others",
            labels=["breaker", "state"],
        )
        for name, state in self.owner.breaker_states():
            for candidate in BREAKER_STATES:
                breaker.add_metric([name, candidate], 1.0 if state == candidate else 0.0)
        yield breaker
        received = CounterMetricFamily(
            "seawall_webhooks_received",
            "Webhook requests received, by source and outcome",
            labels=["source", "outcome"],
        )
        failures = CounterMetricFamily(
            "seawall_webhook_verification_failures",
            "Webhook requests refused by signature verification, by source and reason",
            labels=["source", "reason"],
        )
        totals: Counter[tuple[str, str]] = Counter()
        reasons: Counter[tuple[str, str]] = Counter()
        for counts in self.owner.webhook_sources():
            for source, n in counts.accepted.items():
                totals[(source, "accepted")] += n
            for source, n in counts.duplicates.items():
                totals[(source, "duplicate")] += n
            for source, n in counts.store_errors.items():
                totals[(source, "store_error")] += n
            for (source, reason), n in counts.rejected.items():
                totals[(source, "rejected")] += n
                if reason in VERIFICATION_REASONS:
                    reasons[(source, reason)] += n
        for (source, outcome), n in sorted(totals.items()):
            received.add_metric([source, outcome], float(n))
        for (source, reason), n in sorted(reasons.items()):
            failures.add_metric([source, reason], float(n))
        yield received
        yield failures


class SeawallMetrics:
    """Every seawall metric, registered in its own CollectorRegistry (never the global one)."""

    def __init__(self, *, recent_calls: int = 50) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.recent_calls = RecentCalls(recent_calls)
        self._own_webhooks = _OwnWebhookCounts()
        self._webhook_sources: list[WebhookCounts] = [self._own_webhooks]
        reg = self.registry
        self.job_duration = Histogram(
            "seawall_job_duration_seconds",
            "Time a handler took to run one job",
            ["queue", "outcome"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=reg,
        )
        self.jobs = PromCounter(
            "seawall_jobs",
            "Jobs the worker finished, by queue and what happened (processed, failed, retried, "
            "dead_lettered, lease_lost, released)",
            ["queue", "kind"],
            registry=reg,
        )
        self.outbound_calls = PromCounter(
            "seawall_outbound_calls",
            "Outbound HTTP calls, by host, final status and outcome",
            ["host", "status", "outcome"],
            registry=reg,
        )
        self.outbound_duration = Histogram(
            "seawall_outbound_call_duration_seconds",
            "Total time of an outbound call including retries",
            ["host"],
            registry=reg,
        )
        self.retries = PromCounter(
            "seawall_retries", "Retry attempts scheduled, by policy", ["policy"], registry=reg
        )
        self.fallbacks = PromCounter(
            "seawall_fallbacks",
            "Calls answered by a Fallback, by policy and cause (breaker_open or error)",
            ["policy", "cause"],
            registry=reg,
        )
        self.shared_store_fallbacks = PromCounter(
            "seawall_shared_store_fallbacks",
            "Times a shared fleet store (breakers, limits) lost its server and fell back to local",
            ["namespace"],
            registry=reg,
        )
        self.store_up = Gauge(
            "seawall_store_up", "1 when the last scrape could read the store", registry=reg
        )
        self._lock = threading.Lock()
        self._queue_stats: list[QueueStatsLike] = []
        self._breaker_provider: Callable[[], Iterable[tuple[str, str]]] = lambda: ()
        reg.register(_ScrapeTimeCollector(self))

    # -- recording -----------------------------------------------------------------------------

    def webhook_received(self, source: str, outcome: str) -> None:
        """Count one webhook (`outcome`: accepted, duplicate, store_error or a rejection reason)."""
        own = self._own_webhooks
        with self._lock:
            if outcome == "accepted":
                own.accepted[source] += 1
            elif outcome == "duplicate":
                own.duplicates[source] += 1
            elif outcome == "store_error":
                own.store_errors[source] += 1
            else:
                own.rejected[(source, outcome)] += 1

    def add_webhook_stats(self, counts: WebhookCounts) -> None:
        """Also report these per-source webhook counters (a `Webhooks.stats`) at scrape time."""
        with self._lock:
            if all(existing is not counts for existing in self._webhook_sources):
                self._webhook_sources.append(counts)

    def webhook_sources(self) -> list[WebhookCounts]:
        """Every webhook counter source reported."""
        with self._lock:
            return list(self._webhook_sources)

    def job_finished(self, queue: str, duration_s: float, outcome: str) -> None:
        """Record one job's duration (`outcome`: ok, retry, dead, error)."""
        self.job_duration.labels(queue=queue, outcome=outcome).observe(max(duration_s, 0.0))

    def worker_event(self, event: Any) -> None:
        """The worker's `on_event` hook: count jobs by queue and kind (and duration if given)."""
        queue = str(getattr(event, "queue", "unknown"))
        kind = str(getattr(event, "kind", "unknown"))
        duration = getattr(event, "duration_s", None)
        if kind == "timed":
            if isinstance(duration, int | float):
                outcome = "error" if getattr(event, "error", None) else "ok"
                self.job_finished(queue, float(duration), outcome)
            return
        self.jobs.labels(queue=queue, kind=kind).inc(int(getattr(event, "count", 1)))

    def on_call(self, record: CallInfo) -> None:
        """The HTTP client's metrics hook: count and time one outbound call."""
        status = "none" if record.status is None else str(record.status)
        self.outbound_calls.labels(host=record.host, status=status, outcome=record.outcome).inc()
        self.outbound_duration.labels(host=record.host).observe(max(record.elapsed, 0.0))
        if record.attempts > 1:
            self.retries.labels(policy=f"http:{record.host}").inc(record.attempts - 1)
        self.recent_calls.add(
            RecentCall(
                at=time.time(),
                method=record.method,
                host=record.host,
                path=urlsplit(record.url).path or record.route,
                status=record.status,
                outcome=record.outcome,
                duration_ms=float(record.elapsed) * 1000.0,
                attempts=int(record.attempts),
            )
        )

    def shared_store_fallback(self, namespace: str) -> None:
        """Count one fallback to local state (`on_fallback=` of any `seawall.fleet` store)."""
        self.shared_store_fallbacks.labels(namespace=namespace).inc()

    def resilience_listener(self, event: Any) -> None:
        """A resilience-event listener: counts retries and fallbacks (wire it into the
        listeners of Retry or Pipeline)."""
        kind = getattr(event, "kind", None)
        if kind == "retry":
            self.retries.labels(policy=str(getattr(event, "policy", "unknown"))).inc()
        elif kind == "fallback":
            cause = "breaker_open" if _is_open_circuit(getattr(event, "error", None)) else "error"
            self.fallbacks.labels(
                policy=str(getattr(event, "policy", "unknown")), cause=cause
            ).inc()

    # -- scrape-time sources -------------------------------------------------------------------

    def set_queue_stats(self, stats: Sequence[QueueStatsLike]) -> None:
        """Replace the queue snapshot the next scrape reports."""
        with self._lock:
            self._queue_stats = list(stats)

    def queue_snapshot(self) -> list[QueueStatsLike]:
        """The last queue snapshot."""
        with self._lock:
            return list(self._queue_stats)

    async def refresh_queue(self, stats: Callable[[], Any]) -> None:
        """Read fresh queue stats (`stats` is `queue.stats`, sync or async) into the snapshot."""
        result = stats()
        if hasattr(result, "__await__"):
            result = await result
        self.set_queue_stats(list(result))

    def set_breaker_provider(self, provider: Callable[[], Iterable[tuple[str, str]]]) -> None:
        """Where breaker (name, state) pairs come from at scrape time."""
        self._breaker_provider = provider

    def breaker_states(self) -> list[tuple[str, str]]:
        """The breaker (name, state) pairs right now."""
        return list(self._breaker_provider())

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


_default: SeawallMetrics | None = None
_default_lock = threading.Lock()


def _is_open_circuit(error: object) -> bool:
    return type(error).__name__ == "CircuitOpenError"


def get_metrics() -> SeawallMetrics:
    """The process-wide metrics instance (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SeawallMetrics()
        return _default


def set_metrics(metrics: SeawallMetrics) -> None:
    """Replace the process-wide metrics instance (for an app built with its own)."""
    global _default
    with _default_lock:
        _default = metrics
