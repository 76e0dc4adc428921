"""Numbers for the dashboard read from the shared database: throughput per minute, ingest rate."""

from __future__ import annotations

from dataclasses import dataclass

from seawall.store import Store

__all__ = ["MinutePoint", "ingest_rate", "throughput"]


@dataclass(frozen=True, slots=True)
class MinutePoint:
    """One minute: webhooks received, events processed, events that failed or went dead."""

    minute: int
    received: int
    processed: int
    errors: int


def _minute(engine: str, column: str) -> str:
    """The minute index of an epoch column (PostgreSQL's integer cast rounds, so floor there)."""
    if engine == "postgresql":
        return f"FLOOR({column} / 60)"
    return f"CAST({column} / 60 AS INTEGER)"


async def throughput(store: Store, *, minutes: int = 60) -> list[MinutePoint]:
    """Per-minute counts over the last `minutes` minutes from the webhook inbox, oldest first."""
    now = store.clock.time()
    first = int(now // 60) - minutes + 1
    since = first * 60.0
    async with store.read() as tx:
        rm, pm = _minute(tx.engine, "received_at"), _minute(tx.engine, "processed_at")
        received = await tx.fetchall(
            f"SELECT {rm} AS m, COUNT(*) AS n, "
            "SUM(CASE WHEN status IN ('failed', 'dead') THEN 1 ELSE 0 END) AS e "
            f"FROM seawall_webhook_inbox WHERE received_at >= ? GROUP BY {rm}",
            (since,),
        )
        processed = await tx.fetchall(
            f"SELECT {pm} AS m, COUNT(*) AS n "
            f"FROM seawall_webhook_inbox WHERE processed_at >= ? GROUP BY {pm}",
            (since,),
        )
    got_r = {int(r["m"]): (int(r["n"]), int(r["e"] or 0)) for r in received}
    got_p = {int(r["m"]): int(r["n"]) for r in processed}
    return [
        MinutePoint(
            minute=m,
            received=got_r.get(m, (0, 0))[0],
            processed=got_p.get(m, 0),
            errors=got_r.get(m, (0, 0))[1],
        )
        for m in range(first, first + minutes)
    ]


async def ingest_rate(store: Store, *, window_s: float = 300.0) -> float:
    """Webhooks stored per second over the last `window_s` seconds."""
    now = store.clock.time()
    async with store.read() as tx:
        count = await tx.fetchval(
            "SELECT COUNT(*) FROM seawall_webhook_inbox WHERE received_at >= ?", (now - window_s,)
        )
    return int(count or 0) / window_s
