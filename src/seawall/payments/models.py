"""The payment integration's value types: request, response, statuses and named errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "PAYMENT_STATUSES",
    "PaymentError",
    "PaymentRequest",
    "PaymentRequestError",
    "PaymentResponse",
    "PaymentStatus",
    "RecordStatus",
    "map_provider_status",
]

PaymentStatus = Literal["success", "failed", "pending"]
"""What `process_payment` answers, as in the guide (the provider's `succeeded` is `success`)."""

RecordStatus = Literal["pending", "success", "failed", "refunded"]
"""The status kept in the payment record; `refunded` means the whole amount was refunded."""

PAYMENT_STATUSES: tuple[PaymentStatus, ...] = ("success", "failed", "pending")

_ORDER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


class PaymentError(Exception):
    """Base class of the payment integration's errors."""


class PaymentRequestError(PaymentError, ValueError):
    """A payment request is malformed; the message names the field and what is allowed."""


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One charge: an order id, an amount in minor units, a currency and a customer id.

    The order id is part of the idempotency key (`{order_id}-charge`) and of the record's sort
    key (`ORDER#{order_id}`), so it is restricted to letters, digits and `_ . : -`.
    """

    order_id: str
    amount: int
    currency: str
    customer_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.order_id, str) or not _ORDER_ID.match(self.order_id):
            raise PaymentRequestError(
                f"order_id must be 1-128 characters of letters, digits, '_', '.', ':' or '-', "
                f"got {self.order_id!r}"
            )
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise PaymentRequestError(
                f"amount must be a positive integer in minor units (cents), got {self.amount!r}"
            )
        if not isinstance(self.currency, str) or not _CURRENCY.match(self.currency):
            raise PaymentRequestError(
                f"currency must be a 3-letter ISO code such as 'usd', got {self.currency!r}"
            )
        if not isinstance(self.customer_id, str) or not self.customer_id.strip():
            raise PaymentRequestError("customer_id must be a non-empty string")

    @property
    def idempotency_key(self) -> str:
        """The key sent on every attempt, across restarts: `{order_id}-charge` (the guide's)."""
        return f"{self.order_id}-charge"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a job payload)."""
        return {
            "order_id": self.order_id,
            "amount": self.amount,
            "currency": self.currency,
            "customer_id": self.customer_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PaymentRequest:
        """Rebuild from `to_dict` output; a missing field raises PaymentRequestError."""
        try:
            return cls(
                order_id=data["order_id"],
                amount=data["amount"],
                currency=data["currency"],
                customer_id=data["customer_id"],
            )
        except KeyError as exc:
            raise PaymentRequestError(f"payment request is missing {exc.args[0]!r}") from None


@dataclass(frozen=True, slots=True)
class PaymentResponse:
    """The guide's answer: the provider's transaction id, a status and a human message.

    `transaction_id` is empty when no charge is known at the provider.
    """

    transaction_id: str
    status: PaymentStatus
    message: str


def map_provider_status(status: object) -> PaymentStatus:
    """The provider's `succeeded`/`failed`/`pending` as the guide's `success`/`failed`/`pending`.

    Anything else is `pending`: an answer we do not understand is not proof of failure.
    """
    if status == "succeeded":
        return "success"
    if status == "failed":
        return "failed"
    return "pending"
