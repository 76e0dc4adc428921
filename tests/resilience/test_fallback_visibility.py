"""A Fallback serving because the breaker is open says so (rate-limited) and is counted."""

from __future__ import annotations

import logging

import pytest

from seawall.observability.metrics import SeawallMetrics
from seawall.resilience import CircuitBreaker, Fallback, Pipeline
from seawall.testing import FakeClock


def test_open_breaker_fallbacks_are_logged_once_a_minute_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    metrics = SeawallMetrics()
    breaker = CircuitBreaker(failure_threshold=1, name="inventory-api", clock=clock)
    pipeline = Pipeline(
        "inventory",
        fallback=Fallback(value=[]),
        breaker=breaker,
        clock=clock,
        listeners=[metrics.resilience_listener],
    )
    breaker.trip()

    def fetch() -> list[str]:
        raise AssertionError("not called while the breaker is open")

    with caplog.at_level(logging.WARNING, logger="seawall.resilience"):
        answers = [pipeline.execute(fetch) for _ in range(5)]
        clock.advance(20)  # still open (30 s), and within the minute: no new line
        pipeline.execute(fetch)
    assert answers == [[]] * 5
    lines = [r for r in caplog.records if "serving the fallback" in r.getMessage()]
    assert len(lines) == 1
    assert "'inventory-api' is open" in lines[0].getMessage()
    rendered = metrics.render().decode()
    assert 'seawall_fallbacks_total{cause="breaker_open",policy="inventory"} 6.0' in rendered

    breaker.trip()
    clock.advance(61)
    breaker.trip()
    with caplog.at_level(logging.WARNING, logger="seawall.resilience"):
        pipeline.execute(fetch)
    lines = [r for r in caplog.records if "serving the fallback" in r.getMessage()]
    assert len(lines) == 2 and "5 more fallback(s)" in lines[1].getMessage()
