"""Inbound webhooks: verified over raw bytes, stored durably, processed exactly once, replayable.

`Webhooks` serves endpoints and runs handlers; handlers modules register with `on`; operators
list and read stored events with `list_events` and `get_event`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    # Names after `as` are kept importable for the library's own modules, not the surface.
    from seawall.webhooks.endpoint import GUIDE_PATH, GUIDE_SOURCE, WebhookEndpoint, guide_endpoint
    from seawall.webhooks.events import (
        STATUSES as STATUSES,
    )
    from seawall.webhooks.events import (
        UNHANDLED_TYPE,
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
    "UNHANDLED_TYPE",
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

_HOMES = {
    "GUIDE_PATH": "seawall.webhooks.endpoint",
    "GUIDE_SOURCE": "seawall.webhooks.endpoint",
    "WebhookEndpoint": "seawall.webhooks.endpoint",
    "guide_endpoint": "seawall.webhooks.endpoint",
    "STATUSES": "seawall.webhooks.events",
    "UNHANDLED_TYPE": "seawall.webhooks.events",
    "EventNotFoundError": "seawall.webhooks.events",
    "PermanentWebhookError": "seawall.webhooks.events",
    "WebhookEvent": "seawall.webhooks.events",
    "StoredEvent": "seawall.webhooks.inbox",
    "get_event": "seawall.webhooks.inbox",
    "list_events": "seawall.webhooks.inbox",
    "purge_events": "seawall.webhooks.inbox",
    "QUEUE_NAME": "seawall.webhooks.processing",
    "WebhookStats": "seawall.webhooks.receiver",
    "Router": "seawall.webhooks.router",
    "default_router": "seawall.webhooks.router",
    "on": "seawall.webhooks.router",
    "Webhooks": "seawall.webhooks.service",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
