"""The guide's payment gateway integration as a crash-safe reference: charge, refund, record.

`PaymentGatewayService.process_payment` is the guide's call; `submit_payment` is its durable
twin (an outbox job charged by a worker with a stable idempotency key); the webhook handlers keep
each order's record in step with the provider without ever moving a payment backwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    # Names after `as` are kept importable for the library's own modules, not the surface.
    from seawall.payments.gateway import CallOutcome as CallOutcome
    from seawall.payments.gateway import GatewayStats as GatewayStats
    from seawall.payments.models import (
        PAYMENT_STATUSES,
        PaymentError,
        PaymentRequest,
        PaymentRequestError,
        PaymentResponse,
        PaymentStatus,
        RecordStatus,
    )
    from seawall.payments.models import (
        map_provider_status as map_provider_status,
    )
    from seawall.payments.records import (
        PAYMENT_TYPE,
        PaymentRecord,
        PaymentRecords,
    )
    from seawall.payments.records import (
        payment_keys as payment_keys,
    )
    from seawall.payments.service import (
        CHARGE_QUEUE,
        REFUND_QUEUE,
        PaymentGatewayService,
        RefundResponse,
    )
    from seawall.payments.settings import (
        GatewaySettings,
    )
    from seawall.payments.settings import (
        build_gateway_client as build_gateway_client,
    )
    from seawall.payments.state import (
        PaymentUpdate as PaymentUpdate,
    )
    from seawall.payments.state import (
        merge as merge,
    )
    from seawall.payments.state import (
        record_status_for_provider as record_status_for_provider,
    )
    from seawall.payments.webhook_handlers import (
        PAYMENT_EVENT_TYPES,
        register_payment_webhooks,
    )
    from seawall.payments.webhook_handlers import (
        update_from_event as update_from_event,
    )

__all__ = [
    "CHARGE_QUEUE",
    "PAYMENT_EVENT_TYPES",
    "PAYMENT_STATUSES",
    "PAYMENT_TYPE",
    "REFUND_QUEUE",
    "GatewaySettings",
    "PaymentError",
    "PaymentGatewayService",
    "PaymentRecord",
    "PaymentRecords",
    "PaymentRequest",
    "PaymentRequestError",
    "PaymentResponse",
    "PaymentStatus",
    "RecordStatus",
    "RefundResponse",
    "register_payment_webhooks",
]

_HOMES = {
    "CallOutcome": "seawall.payments.gateway",
    "GatewayStats": "seawall.payments.gateway",
    "PAYMENT_STATUSES": "seawall.payments.models",
    "PaymentError": "seawall.payments.models",
    "PaymentRequest": "seawall.payments.models",
    "PaymentRequestError": "seawall.payments.models",
    "PaymentResponse": "seawall.payments.models",
    "PaymentStatus": "seawall.payments.models",
    "RecordStatus": "seawall.payments.models",
    "map_provider_status": "seawall.payments.models",
    "PAYMENT_TYPE": "seawall.payments.records",
    "PaymentRecord": "seawall.payments.records",
    "PaymentRecords": "seawall.payments.records",
    "payment_keys": "seawall.payments.records",
    "CHARGE_QUEUE": "seawall.payments.service",
    "REFUND_QUEUE": "seawall.payments.service",
    "PaymentGatewayService": "seawall.payments.service",
    "RefundResponse": "seawall.payments.service",
    "GatewaySettings": "seawall.payments.settings",
    "build_gateway_client": "seawall.payments.settings",
    "PaymentUpdate": "seawall.payments.state",
    "merge": "seawall.payments.state",
    "record_status_for_provider": "seawall.payments.state",
    "PAYMENT_EVENT_TYPES": "seawall.payments.webhook_handlers",
    "register_payment_webhooks": "seawall.payments.webhook_handlers",
    "update_from_event": "seawall.payments.webhook_handlers",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
