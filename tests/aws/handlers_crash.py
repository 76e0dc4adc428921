"""Handlers for the AWS crash loop: note each start in a file, then add one effect item to the tx.

The start log lives outside DynamoDB (appended before the transaction is built), so the test can
tell an event a handler tried from one no handler ever ran. Each effect item has a key of its
own (a fresh uuid), so a second commit for one event would show as a second item instead of
being refused: the inbox mark alone must keep it to one.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from seawall.aws.transact import DynamoTx
from seawall.webhooks import WebhookEvent, on

SOURCE = "crash"


@on("payment.*", source=SOURCE)
async def record_start_then_effect(event: WebhookEvent[dict[str, Any]], tx: DynamoTx) -> None:
    """Log the start, wait a little (kills land mid-handler too), then add one effect item."""
    # Written synchronously on purpose: the line must be on disk before the first await.
    with open(os.environ["SEAWALL_TEST_STARTS"], "a", encoding="utf-8") as log:  # noqa: ASYNC230
        log.write(event.id + "\n")
    await asyncio.sleep(0.01)
    tx.put(
        os.environ["SEAWALL_TEST_EFFECTS_TABLE"],
        {"id": uuid.uuid4().hex, "event_id": event.id, "amount": event.payload["data"]["amount"]},
    )
