"""How a payment record moves: a pure merge that is idempotent and never moves a payment backwards.

Every source of truth (the charge call's answer, `payment.completed`/`payment.failed` and
`refund.created` webhooks, the refund call's answer) becomes a `PaymentUpdate`, and
`merge(current, update)` folds it into the record's attributes:

- Statuses are ranked: `pending` (0) < `success` = `failed` (1) < `refunded` (2). An update with a
  lower rank never replaces a higher one, so a late `payment.completed` cannot undo a refund and a
  retried charge answer cannot turn a settled payment back into `pending`. Between the two
  settled states the first one wins (a real provider never flips them; we log, not overwrite).
- Refunds are applied once per refund id; the refunded amount is the sum over distinct ids, so a
  duplicated or redelivered `refund.created` changes nothing.
- Fields that were unknown (transaction id, amount) are filled in from any source; known ones are
  kept.
- When nothing changes, `merge` returns None, so no new version is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from seawall.payments.models import RecordStatus

__all__ = ["STATUS_RANK", "PaymentUpdate", "merge", "record_status_for_provider"]

STATUS_RANK: dict[str, int] = {"pending": 0, "success": 1, "failed": 1, "refunded": 2}

UpdateSource = Literal["charge", "webhook", "refund"]


@dataclass(frozen=True, slots=True)
class PaymentUpdate:
    """One observation about a payment, from the charge call, a webhook or a refund call."""

    order_id: str
    source: UpdateSource
    status: RecordStatus | None = None
    transaction_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    customer_id: str | None = None
    message: str | None = None
    refund_id: str | None = None
    refund_amount: int | None = None
    event_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a job payload)."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PaymentUpdate:
        """Rebuild from `to_dict` output; unknown keys raise ValueError."""
        unknown = set(data) - set(_FIELDS)
        if unknown:
            raise ValueError(f"PaymentUpdate: unknown fields {sorted(unknown)}")
        if data.get("source") not in ("charge", "webhook", "refund"):
            raise ValueError(f"PaymentUpdate: unknown source {data.get('source')!r}")
        if data.get("status") not in (None, *STATUS_RANK):
            raise ValueError(f"PaymentUpdate: unknown status {data.get('status')!r}")
        return cls(**data)


_FIELDS = tuple(f for f in PaymentUpdate.__dataclass_fields__)


def record_status_for_provider(status: str, amount: int, amount_refunded: int) -> RecordStatus:
    """The record status that matches a provider payment (for consistency checks)."""
    if status == "succeeded":
        return "refunded" if amount_refunded >= amount > 0 else "success"
    if status == "failed":
        return "failed"
    return "pending"


def _rank(status: object) -> int:
    return STATUS_RANK.get(str(status), -1)


def merge(current: dict[str, Any] | None, update: PaymentUpdate) -> dict[str, Any] | None:
    """The record's attributes after `update`, or None when `update` changes nothing."""
    base: dict[str, Any] = dict(current) if current else {}
    new = dict(base)
    new.setdefault("order_id", update.order_id)
    new.setdefault("amount_refunded", 0)
    new.setdefault("refund_ids", [])
    new.setdefault("event_ids", [])

    for name in ("transaction_id", "amount", "currency", "customer_id"):
        value = getattr(update, name)
        if value not in (None, "") and new.get(name) in (None, ""):
            new[name] = value

    status = update.status
    if status is not None and _rank(status) > _rank(new.get("status")):
        new["status"] = status
        if update.message is not None:
            new["message"] = update.message
        new["status_source"] = update.source
    elif "status" not in new and status is not None:
        new["status"] = status

    if update.refund_id is not None and update.refund_id not in new["refund_ids"]:
        new["refund_ids"] = [*new["refund_ids"], update.refund_id]
        new["amount_refunded"] = int(new["amount_refunded"]) + int(update.refund_amount or 0)
        # A refund proves the charge succeeded, whatever we heard before.
        if _rank(new.get("status")) < STATUS_RANK["success"]:
            new["status"] = "success"
            new["status_source"] = update.source
    amount = new.get("amount")
    if (
        isinstance(amount, int)
        and amount > 0
        and int(new["amount_refunded"]) >= amount
        and new.get("status") == "success"
    ):
        new["status"] = "refunded"
        new["status_source"] = update.source

    if update.event_id is not None and update.event_id not in new["event_ids"]:
        new["event_ids"] = [*new["event_ids"], update.event_id]

    for key, value in update.extra.items():
        if key not in new or (update.source == "charge" and new[key] != value):
            new[key] = value

    return None if new == base else new
