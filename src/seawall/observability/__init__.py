"""Observability: structured logs with request context, Prometheus metrics, optional tracing."""

from __future__ import annotations

from seawall.observability.logging import (
    bind_context,
    configure_logging,
    get_context,
    log_context,
)
from seawall.observability.metrics import SeawallMetrics, get_metrics

__all__ = [
    "SeawallMetrics",
    "bind_context",
    "configure_logging",
    "get_context",
    "get_metrics",
    "log_context",
]
