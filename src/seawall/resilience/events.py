"""Policy events (retry, give-up, rejection, breaker transition) and the listeners that get them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["LoggingListener", "ResilienceEvent", "ResilienceListener", "emit"]

_log = logging.getLogger("seawall.resilience")

# Event kinds, as plain strings so listeners can match them without importing anything.
RETRY = "retry"
GIVE_UP = "give_up"
BUDGET_EXHAUSTED = "budget_exhausted"
DEADLINE_EXCEEDED = "deadline_exceeded"
BREAKER_TRANSITION = "breaker_transition"
BREAKER_REJECTED = "breaker_rejected"
BULKHEAD_REJECTED = "bulkhead_rejected"
RATE_LIMITED = "rate_limited"
FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class ResilienceEvent:
    """Something a policy did: `kind` says what, `policy` says which named policy did it."""

    kind: str
    policy: str
    attempt: int | None = None
    delay: float | None = None
    error: BaseException | None = None
    from_state: str | None = None
    to_state: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def as_fields(self) -> dict[str, Any]:
        """The event as flat structured-log fields (errors become their type name and text)."""
        out: dict[str, Any] = {"event": self.kind, "policy": self.policy}
        if self.attempt is not None:
            out["attempt"] = self.attempt
        if self.delay is not None:
            out["delay_s"] = round(self.delay, 6)
        if self.error is not None:
            out["error_type"] = type(self.error).__name__
            out["error"] = str(self.error)
        if self.from_state is not None:
            out["from_state"] = self.from_state
        if self.to_state is not None:
            out["to_state"] = self.to_state
        out.update(self.fields)
        return out


@runtime_checkable
class ResilienceListener(Protocol):
    """Anything callable with one ResilienceEvent; it must be quick and must not raise."""

    def __call__(self, event: ResilienceEvent, /) -> None:
        """Receive one event."""
        ...


class LoggingListener:
    """Logs every event through standard logging, with the facts in `extra={"seawall": ...}`."""

    __slots__ = ("level", "logger", "transition_level")

    def __init__(
        self,
        logger: logging.Logger | None = None,
        level: int = logging.INFO,
        transition_level: int = logging.WARNING,
    ) -> None:
        self.logger = logger or _log
        self.level = level
        self.transition_level = transition_level

    def __call__(self, event: ResilienceEvent, /) -> None:
        """Log `event` as one line plus structured fields."""
        level = self.transition_level if event.kind == BREAKER_TRANSITION else self.level
        if not self.logger.isEnabledFor(level):
            return
        facts = event.as_fields()
        text = " ".join(f"{k}={v}" for k, v in facts.items())
        self.logger.log(level, "resilience %s", text, extra={"seawall": facts})


def emit(listeners: Sequence[ResilienceListener], event: ResilienceEvent) -> None:
    """Deliver `event` to every listener; a failing listener is logged, never propagated."""
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            _log.exception("resilience listener %r failed on %s", listener, event.kind)
