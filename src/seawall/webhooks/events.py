"""What a webhook handler receives (`WebhookEvent`), the inbox statuses and the named errors."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

__all__ = [
    "STATUSES",
    "UNHANDLED_TYPE",
    "EventNotFoundError",
    "PermanentWebhookError",
    "WebhookEvent",
]

P = TypeVar("P")

STATUSES = ("received", "processing", "processed", "unhandled", "failed", "dead")
"""Inbox statuses. `received`: stored, waiting for (or retrying) its processing job;
`processed`: every matching handler committed; `unhandled`: no handler matched (logged as a
warning, the guide's default branch); `failed`: a permanent failure (invalid payload for the
handler's model, or `PermanentWebhookError`); `dead`: the handler failed on its last allowed
attempt. `processing` is reserved for tools that mark a claim; the worker itself never commits
it, because a handler's effects and its final status commit together."""


UNHANDLED_TYPE = "unhandled"
"""The event type of an authentic delivery whose body names no usable type: not a JSON object
(an array, invalid JSON or UTF-8, JSON nested too deeply), a form or object without a type field,
or a type that is not 1 to 256 storable characters. Such a delivery is stored and acknowledged
like any other; only handlers registered for this type by name (`@on("unhandled")`) run for it
(the `*` wildcard does not match it, since its payload may be a list, form fields or None), and
with none it is marked `unhandled` and can be replayed once one exists."""


class PermanentWebhookError(Exception):
    """Raise from a handler when retrying cannot help; the event is marked failed at once."""


class EventNotFoundError(LookupError):
    """No inbox row has this (source, event id)."""

    def __init__(self, source: str, event_id: str) -> None:
        super().__init__(f"no webhook event {event_id!r} from source {source!r} in the inbox")
        self.source = source
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class WebhookEvent(Generic[P]):
    """One stored webhook as a handler sees it.

    `payload` is the body's document (`seawall.webhooks.shape`): its JSON value, a form's fields
    (or the JSON object in its `payload` field), None for a body that is neither; or the
    handler's pydantic model when it registered one.
    `body` is the raw bytes that were verified; `headers` exclude credential-bearing headers.
    `attempt` counts deliveries of the processing job (1 on the first try).
    """

    source: str
    id: str
    type: str
    payload: P
    body: bytes
    headers: dict[str, str]
    received_at: float
    attempt: int = 1

    def with_payload(self, payload: Any) -> WebhookEvent[Any]:
        """A copy carrying another payload (the parsed model)."""
        return replace(self, payload=payload)
