"""Routes event types to handlers: exact names, `prefix.*` wildcards and `*`, per source or any.

Every matching handler runs, most specific first (exact, then longer wildcard prefixes, then
`*`), each in registration order. A handler may name a pydantic model: the payload is validated
into it before the call, and a validation failure is permanent (the event is marked failed).

`*` answers every typed event, not the reserved type `unhandled` (`UNHANDLED_TYPE`) that an
authentic delivery without a usable type is stored under: its payload may be a list, form fields
or None, which catch-all handlers written for the provider's objects never expected. Register
`@on("unhandled")` (exact name) to handle those deliveries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from seawall.webhooks.events import UNHANDLED_TYPE, WebhookEvent

__all__ = ["Handler", "Registration", "Router", "default_router", "on"]

Handler = Callable[[WebhookEvent[Any], Any], Awaitable[None]]
"""`handler(event, tx)`, or `handler(event, run)` for a commit-block handler."""
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Registration:
    """One handler: the type pattern and source it answers, and its optional payload model."""

    pattern: str
    source: str | None
    handler: Handler
    model: type[Any] | None
    commit_block: bool = False
    """True: `handler(event, run)` opens `run.commit()` itself, after its slow I/O."""

    def matches(self, source: str, event_type: str) -> bool:
        """True when this registration answers `event_type` from `source`."""
        if self.source is not None and self.source != source:
            return False
        if self.pattern == "*":
            return event_type != UNHANDLED_TYPE
        if self.pattern.endswith(".*"):
            return event_type.startswith(self.pattern[:-1])
        return self.pattern == event_type

    @property
    def specificity(self) -> int:
        """Sort key: exact names first, then longer wildcard prefixes, then `*`."""
        if self.pattern == "*":
            return 0
        if self.pattern.endswith(".*"):
            return len(self.pattern)
        return 10_000


class Router:
    """A set of handler registrations, looked up by (source, event type)."""

    def __init__(self) -> None:
        self._registrations: list[Registration] = []
        self._cache: dict[tuple[str, str], tuple[Registration, ...]] = {}

    def on(
        self,
        pattern: str,
        *,
        source: str | None = None,
        model: type[Any] | None = None,
        commit_block: bool = False,
    ) -> Callable[[H], H]:
        """Decorator: run the handler for events whose type matches `pattern`.

        `pattern` is an exact type (`payment.completed`), a prefix wildcard (`payment.*`) or `*`.
        `source` limits it to one endpoint's events. `model` (a pydantic model class) makes the
        handler receive `event.payload` as that model. With `commit_block=True` the handler is
        called as `handler(event, run)`: it does its slow I/O with no transaction open, then
        writes its effects in `async with run.commit() as tx:`, where the event's processed mark
        and its job's ack commit with them (see `seawall.webhooks.commit_block`). At most one
        commit-block handler may match an event.
        """
        _check_pattern(pattern)
        if model is not None and not hasattr(model, "model_validate"):
            raise TypeError(f"model must be a pydantic model class, got {model!r}")

        def register(handler: H) -> H:
            self.add(pattern, handler, source=source, model=model, commit_block=commit_block)
            return handler

        return register

    def add(
        self,
        pattern: str,
        handler: Handler,
        *,
        source: str | None = None,
        model: type[Any] | None = None,
        commit_block: bool = False,
    ) -> None:
        """Register `handler` without the decorator syntax."""
        _check_pattern(pattern)
        self._registrations.append(Registration(pattern, source, handler, model, commit_block))
        self._cache.clear()

    def match(self, source: str, event_type: str) -> tuple[Registration, ...]:
        """Every registration answering this event, most specific first."""
        key = (source, event_type)
        found = self._cache.get(key)
        if found is None:
            hits = [r for r in self._registrations if r.matches(source, event_type)]
            hits.sort(key=lambda r: -r.specificity)
            found = self._cache[key] = tuple(hits)
        return found

    def needs_commit_block(self, source: str, event_type: str) -> bool:
        """True when a commit-block handler answers this event (it is processed that way)."""
        return any(r.commit_block for r in self.match(source, event_type))

    def __len__(self) -> int:
        return len(self._registrations)


def _check_pattern(pattern: str) -> None:
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("an event type pattern must be a non-empty string")
    if (
        "*" in pattern
        and pattern != "*"
        and not (pattern.endswith(".*") and pattern.count("*") == 1)
    ):
        raise ValueError(
            f"invalid pattern {pattern!r}: use an exact type, a 'prefix.*' wildcard or '*'"
        )


default_router = Router()
"""The router that `handlers` modules named in the configuration register on."""

on = default_router.on
"""`@on("payment.completed")`: register a handler on the default router."""
