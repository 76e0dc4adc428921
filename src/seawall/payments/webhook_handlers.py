"""Webhook handlers for the gateway's `payment.completed`, `payment.failed` and `refund.created`.

Each handler turns the verified event into a `PaymentUpdate` and merges it into the order's
record in the webhook's own transaction: the record's new version, the inbox's processed mark and
the job's ack commit together, so each event is applied once, and a redelivery merges idempotently
(by event id and refund id). On DynamoDB the merge commits just before the mark, in a
TransactWriteItems of its own (see `seawall.payments.records`). When another writer moved the
record on since it was read, the VersionMismatchError rolls the whole transaction back and the
worker retries the webhook job with backoff: nothing is half-applied. The record never moves
backwards: a late `payment.completed` cannot undo a refund, and nothing can turn a settled
payment back into `pending` (see `seawall.payments.state`).

An event without an order id cannot be matched to any record: it fails permanently (retrying
cannot add the missing field) and stays in the inbox for inspection.
"""

from __future__ import annotations

from typing import Any, Protocol

from seawall.observability.logging import bind_context
from seawall.payments.models import map_provider_status
from seawall.payments.service import PaymentGatewayService
from seawall.payments.state import PaymentUpdate
from seawall.webhooks import PermanentWebhookError, WebhookEvent
from seawall.webhooks.router import Handler

__all__ = ["PAYMENT_EVENT_TYPES", "register_payment_webhooks", "update_from_event"]

PAYMENT_EVENT_TYPES = ("payment.completed", "payment.failed", "refund.created")


class _Routes(Protocol):
    def add(self, pattern: str, handler: Handler, *, source: str | None = ...) -> None: ...


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise PermanentWebhookError("the event has no `data` object")
    data: dict[str, Any] = payload["data"]
    return data


def _order_and_tenant(data: dict[str, Any], default_tenant: str | None) -> tuple[str, str]:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("order_id"):
        raise PermanentWebhookError("the event's data.metadata.order_id is missing")
    tenant = str(metadata.get("tenant_code") or default_tenant or "")
    if not tenant:
        raise PermanentWebhookError(
            "the event names no tenant (data.metadata.tenant_code) and no default is configured"
        )
    return str(metadata["order_id"]), tenant


def update_from_event(
    event: WebhookEvent[Any], default_tenant: str | None = None
) -> tuple[str, PaymentUpdate]:
    """The tenant and record update a payment or refund event carries."""
    data = _object(event.payload)
    order_id, tenant = _order_and_tenant(data, default_tenant)
    if event.type == "refund.created":
        if not isinstance(data.get("id"), str) or not isinstance(data.get("amount"), int):
            raise PermanentWebhookError("refund.created needs data.id and an integer data.amount")
        return tenant, PaymentUpdate(
            order_id=order_id,
            source="webhook",
            transaction_id=str(data.get("payment_id") or "") or None,
            refund_id=data["id"],
            refund_amount=data["amount"],
            event_id=event.id,
        )
    if event.type not in ("payment.completed", "payment.failed"):
        raise PermanentWebhookError(f"not a payment event: {event.type!r}")
    status = map_provider_status(data.get("status"))
    if event.type == "payment.failed":
        status = "failed"
    amount = data.get("amount")
    return tenant, PaymentUpdate(
        order_id=order_id,
        source="webhook",
        status=status,
        transaction_id=str(data.get("id") or "") or None,
        amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        currency=str(data["currency"]) if isinstance(data.get("currency"), str) else None,
        customer_id=str(data["customer_id"]) if data.get("customer_id") else None,
        message=str(data.get("failure_message") or "") or None,
        event_id=event.id,
    )


def register_payment_webhooks(
    routes: _Routes,
    service: PaymentGatewayService,
    *,
    source: str | None = None,
) -> None:
    """Register the three handlers on `routes` (a `Router`), for `source` or every source."""

    async def handle(event: WebhookEvent[Any], tx: Any) -> None:
        tenant, update = update_from_event(event, service.default_tenant)
        bind_context(tenant=tenant)  # on every line logged for this job from here on
        await service.record_update(tenant, update, tx=tx, request_id=f"webhook:{event.id}")

    for event_type in PAYMENT_EVENT_TYPES:
        routes.add(event_type, handle, source=source)
