"""Structured logs and metrics hooks for outbound calls: one record per attempt and per call."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["CallListener", "CallRecord", "emit_call", "log_attempt", "logger", "outcome_of"]

logger = logging.getLogger("seawall.http")
"""The logger every client writes to; records carry fields in `extra=`."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """The facts of one finished logical call, handed to every metrics listener."""

    method: str
    host: str
    route: str
    url: str
    status: int | None
    outcome: str
    attempts: int
    elapsed: float
    idempotency_key: str | None


@runtime_checkable
class CallListener(Protocol):
    """A metrics hook: `on_call` runs once per logical call; it must be quick and never raise."""

    def on_call(self, record: CallRecord) -> None:
        """Count or time one finished call."""
        ...


def outcome_of(exc: BaseException | None, status: int | None) -> str:
    """A short label for how a call or attempt ended (ok, server_error, timeout...)."""
    if exc is None:
        return "ok"
    from seawall.http.errors import (
        ApiConnectionError,
        ApiTimeout,
        ClientError,
        InvalidResponseError,
        ServerError,
    )

    if isinstance(exc, ClientError):
        return "rate_limited" if status == 429 else "client_error"
    if isinstance(exc, ServerError):
        return "server_error"
    if isinstance(exc, ApiTimeout):
        return "timeout"
    if isinstance(exc, ApiConnectionError):
        return "connection_error"
    if isinstance(exc, InvalidResponseError):
        return "invalid_response"
    name = type(exc).__name__
    return {
        "CircuitOpenError": "circuit_open",
        "RetryBudgetExhausted": "budget_exhausted",
        "RetryAfterTooLong": "retry_after_too_long",
        "DeadlineExceeded": "deadline",
        "BulkheadFull": "bulkhead_full",
        "RateLimited": "rate_limited",
    }.get(name, "error")


def log_attempt(
    method: str,
    url: str,
    attempt: int,
    status: int | None,
    duration: float,
    idempotency_key: str | None,
    exc: BaseException | None,
) -> None:
    """Log one attempt at DEBUG (callers check `logger.isEnabledFor(DEBUG)` first)."""
    outcome = outcome_of(exc, status)
    logger.debug(
        "%s %s attempt %d -> %s (%.1f ms)",
        method,
        url,
        attempt,
        status if status is not None else outcome,
        duration * 1000.0,
        extra={
            "event": "http.attempt",
            "method": method,
            "url": url,
            "status": status,
            "duration_ms": round(duration * 1000.0, 3),
            "attempt": attempt,
            "idempotency_key": idempotency_key,
            "outcome": outcome,
        },
    )


def emit_call(
    record: CallRecord,
    listeners: tuple[Callable[[CallRecord], None], ...],
    error: BaseException | None,
) -> None:
    """Log the finished call (INFO on success, WARNING on failure) and notify listeners."""
    level = logging.INFO if error is None else logging.WARNING
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "%s %s -> %s after %d attempt(s) in %.1f ms",
            record.method,
            record.url,
            record.status if record.status is not None else record.outcome,
            record.attempts,
            record.elapsed * 1000.0,
            extra={
                "event": "http.call",
                "method": record.method,
                "url": record.url,
                "status": record.status,
                "duration_ms": round(record.elapsed * 1000.0, 3),
                "attempt": record.attempts,
                "idempotency_key": record.idempotency_key,
                "outcome": record.outcome,
                "error": None if error is None else type(error).__name__,
            },
        )
    for listener in listeners:
        try:
            listener(record)
        except Exception:
            logger.exception("metrics listener %r failed", listener)
