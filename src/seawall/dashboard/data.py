"""Numbers for the dashboard read from the shared database: throughput per minute, ingest rate."""

from __future__ import annotations

from dataclasses import dataclass

from seawall.store import Store
from seawall.webhooks import inbox

__all__ = ["MinutePoint", "ingest_rate", "throughput"]


@dataclass(frozen=True, slots=True)
class MinutePoint:
    """One minute: webhooks received, events processed, events that failed or went dead."""

    minute: int
    received: int
    processed: int
    errors: int


async def throughput(store: Store, *, minutes: int = 60) -> list[MinutePoint]:
    """Per-minute counts over the last `minutes` minutes from the webhook inbox, oldest first."""
    first = int(store.clock.time() // 60) - minutes + 1
    counts = await inbox.minute_counts(store, first * 60.0)
    return [
        MinutePoint(
            minute=m,
            received=counts.received.get(m, 0),
            processed=counts.processed.get(m, 0),
            errors=counts.failed.get(m, 0),
        )
        for m in range(first, first + minutes)
    ]


async def ingest_rate(store: Store, *, window_s: float = 300.0) -> float:
    """Webhooks stored per second over the last `window_s` seconds."""
    return await inbox.received_since(store, store.clock.time() - window_s) / window_s
