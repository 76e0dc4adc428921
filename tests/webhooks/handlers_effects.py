"""A handlers module for config-driven tests: each event writes one effect row in the job's tx."""

from __future__ import annotations

from typing import Any

from seawall.store import Tx
from seawall.webhooks import WebhookEvent, on

EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS test_webhook_effects "
    "(source TEXT NOT NULL, event_id TEXT NOT NULL, amount INTEGER NOT NULL)"
)


@on("*", source="effects")
async def record_effect(event: WebhookEvent[dict[str, Any]], tx: Tx) -> None:
    """Insert one effect row; it commits together with the processed mark and the ack."""
    amount = int(event.payload["data"]["amount"])
    await tx.execute(
        "INSERT INTO test_webhook_effects (source, event_id, amount) VALUES (?, ?, ?)",
        (event.source, event.id, amount),
    )
