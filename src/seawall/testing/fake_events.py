"""What happens at the fake provider, recorded in order and handed to event sinks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["EventRecorder", "EventSink", "ProviderEvent"]


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """Something that happened at the provider (`payment.completed`, `refund.created`...)."""

    id: str
    type: str
    created: float
    sequence: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as the JSON payload a webhook would carry."""
        return {
            "id": self.id,
            "type": self.type,
            "created": self.created,
            "sequence": self.sequence,
            "data": self.data,
        }


@runtime_checkable
class EventSink(Protocol):
    """Receives provider events on the provider's event loop (e.g. a webhook sender)."""

    async def deliver(self, event: ProviderEvent) -> None:
        """Handle one event; exceptions are swallowed so they never break the provider."""
        ...


class EventRecorder:
    """The provider's events in order, each handed to every sink in the background."""

    def __init__(self, sinks: Iterable[EventSink] = ()) -> None:
        self.sinks: list[EventSink] = list(sinks)
        self.events: list[ProviderEvent] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        """Record an event and hand it to every sink in the background."""
        sequence = len(self.events) + 1
        event = ProviderEvent(
            id=f"evt_{sequence:06d}", type=kind, created=time.time(), sequence=sequence, data=data
        )
        self.events.append(event)
        for sink in self.sinks:
            task = asyncio.get_running_loop().create_task(self._deliver(sink, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, sink: EventSink, event: ProviderEvent) -> None:
        with contextlib.suppress(Exception):
            await sink.deliver(event)
