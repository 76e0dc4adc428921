"""The guide's payment gateway integration as a crash-safe reference: charge, refund, record.

`PaymentGatewayService.process_payment` is the guide's call; `submit_payment` is its durable
twin (an outbox job charged by a worker with a stable idempotency key); the webhook handlers keep
each order's record in step with the provider without ever moving a payment backwards.
"""

from __future__ import annotations

from seawall.payments.gateway import CallOutcome, GatewayStats
from seawall.payments.models import (
    PAYMENT_STATUSES,
    PaymentError,
    PaymentRequest,
    PaymentRequestError,
    PaymentResponse,
    PaymentStatus,
    RecordStatus,
    map_provider_status,
)
from seawall.payments.records import PAYMENT_TYPE, PaymentRecord, PaymentRecords, payment_keys
from seawall.payments.service import (
    CHARGE_QUEUE,
    REFUND_QUEUE,
    PaymentGatewayService,
    RefundResponse,
)
from seawall.payments.settings import GatewaySettings, build_gateway_client
from seawall.payments.state import PaymentUpdate, merge, record_status_for_provider
from seawall.payments.webhook_handlers import (
    PAYMENT_EVENT_TYPES,
    register_payment_webhooks,
    update_from_event,
)

__all__ = [
    "CHARGE_QUEUE",
    "PAYMENT_EVENT_TYPES",
    "PAYMENT_STATUSES",
    "PAYMENT_TYPE",
    "REFUND_QUEUE",
    "CallOutcome",
    "GatewaySettings",
    "GatewayStats",
    "PaymentError",
    "PaymentGatewayService",
    "PaymentRecord",
    "PaymentRecords",
    "PaymentRequest",
    "PaymentRequestError",
    "PaymentResponse",
    "PaymentStatus",
    "PaymentUpdate",
    "RecordStatus",
    "RefundResponse",
    "build_gateway_client",
    "map_provider_status",
    "merge",
    "payment_keys",
    "record_status_for_provider",
    "register_payment_webhooks",
    "update_from_event",
]
