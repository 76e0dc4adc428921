"""A handlers module that notes every handler start in a file, then writes one effect row.

The start log lives outside the database (appended with O_APPEND before the transaction's
work), so a test can tell a job that a handler tried from one that no handler ever ran.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from seawall.store import Tx
from seawall.webhooks import WebhookEvent, on


@on("*", source="started")
async def record_start_then_effect(event: WebhookEvent[dict[str, Any]], tx: Tx) -> None:
    """Log the start, wait a little (kills land mid-handler too), then insert one effect."""
    # Written synchronously on purpose: the line must be on disk before the first await.
    with open(os.environ["SEAWALL_TEST_STARTS"], "a", encoding="utf-8") as log:  # noqa: ASYNC230
        log.write(event.id + "\n")
    await asyncio.sleep(0.02)
    await tx.execute(
        "INSERT INTO test_webhook_effects (source, event_id, amount) VALUES (?, ?, ?)",
        (event.source, event.id, int(event.payload["data"]["amount"])),
    )
