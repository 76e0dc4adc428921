"""Inbound webhooks: verified over raw bytes, stored durably, processed exactly once, replayable.

`Webhooks` serves endpoints and runs handlers; handlers modules register with `on`; operators
list and read stored events with `list_events` and `get_event`.
"""

from __future__ import annotations

from seawall.webhooks.endpoint import GUIDE_PATH, GUIDE_SOURCE, WebhookEndpoint, guide_endpoint
from seawall.webhooks.events import (
    STATUSES,
    EventNotFoundError,
    PermanentWebhookError,
    WebhookEvent,
)
from seawall.webhooks.inbox import StoredEvent, get_event, list_events, purge_events
from seawall.webhooks.processing import QUEUE_NAME
from seawall.webhooks.receiver import WebhookStats
from seawall.webhooks.router import Router, default_router, on
from seawall.webhooks.service import Webhooks

__all__ = [
    "GUIDE_PATH",
    "GUIDE_SOURCE",
    "QUEUE_NAME",
    "STATUSES",
    "EventNotFoundError",
    "PermanentWebhookError",
    "Router",
    "StoredEvent",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookStats",
    "Webhooks",
    "default_router",
    "get_event",
    "guide_endpoint",
    "list_events",
    "on",
    "purge_events",
]
