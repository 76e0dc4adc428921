"""Optional OpenTelemetry spans: real ones when `opentelemetry-api` is installed, else no-ops."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

__all__ = ["OTEL_AVAILABLE", "span"]

_trace: Any
try:
    _trace = importlib.import_module("opentelemetry.trace")
    OTEL_AVAILABLE = True
except ImportError:  # the `otel` extra is not installed
    _trace = None
    OTEL_AVAILABLE = False


@contextlib.contextmanager
def span(name: str, **attributes: str | int | float | bool | None) -> Iterator[Any]:
    """Run a block inside a span named `name` (yields the span, or None without OpenTelemetry)."""
    if _trace is None:
        yield None
        return
    tracer = _trace.get_tracer("seawall")
    with tracer.start_as_current_span(name) as current:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(key, value)
        yield current
