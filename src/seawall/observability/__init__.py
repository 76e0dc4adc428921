"""Observability: structured logs with request context, Prometheus metrics, optional tracing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
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

_HOMES = {
    "bind_context": "seawall.observability.logging",
    "configure_logging": "seawall.observability.logging",
    "get_context": "seawall.observability.logging",
    "log_context": "seawall.observability.logging",
    "SeawallMetrics": "seawall.observability.metrics",
    "get_metrics": "seawall.observability.metrics",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
