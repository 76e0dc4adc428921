"""Talking to the payment gateway: one charge or refund call, and what its outcome proves.

A call ends in one of three ways, and the difference matters for money:
- the gateway answered: the payment is `success`, `failed` or `pending` at the provider;
- the gateway refused the request permanently (a 4xx other than 408/409/425/429): nothing was
  charged, the payment is `failed` (the guide records every error like this);
- the outcome is unknown (retries ran out on timeouts, resets, 5xx, an open breaker): the charge
  may have gone through. The guide records these as `failed`, which is wrong when the charge
  landed; seawall records `pending` and retries later with the same Idempotency-Key, so the
  provider replays the original answer instead of charging again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from seawall.http import ApiClient, ApiError, ClientError
from seawall.http.classify import may_have_taken_effect
from seawall.payments.models import PaymentRequest, PaymentResponse, map_provider_status
from seawall.resilience import CircuitOpenError, ResilienceError, ResilienceEvent

__all__ = [
    "CallOutcome",
    "GatewayStats",
    "charge",
    "refund",
]


@dataclass(slots=True)
class GatewayStats:
    """Counters for calls to the gateway, fed by the client's answers and policy events."""

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    breaker_trips: int = 0
    rejected_by_breaker: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def listener(self, event: ResilienceEvent) -> None:
        """A ResilienceListener counting breaker trips (transitions to open) and rejections."""
        if event.kind == "breaker_transition" and str(event.to_state).lower() == "open":
            self.breaker_trips += 1
        elif event.kind == "breaker_rejected":
            self.rejected_by_breaker += 1

    def count(self, outcome: CallOutcome) -> None:
        """Add one finished call."""
        self.calls += 1
        self.attempts += outcome.attempts
        self.retries += max(0, outcome.attempts - 1)
        self.outcomes[outcome.kind] = self.outcomes.get(outcome.kind, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "calls": self.calls,
            "attempts": self.attempts,
            "retries": self.retries,
            "breaker_trips": self.breaker_trips,
            "rejected_by_breaker": self.rejected_by_breaker,
            "outcomes": dict(self.outcomes),
        }


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How one logical call to the gateway ended.

    `kind` is `answered` (the gateway's object is in `data`), `rejected` (a permanent 4xx:
    nothing happened at the provider) or `unknown` (it may or may not have happened).
    `retry_after` suggests when to try again for `unknown` outcomes.
    """

    kind: str
    data: dict[str, Any] | None
    message: str
    attempts: int
    elapsed_s: float
    status_code: int | None = None
    retry_after: float | None = None

    @property
    def settled(self) -> bool:
        """True when the outcome is known (answered or rejected)."""
        return self.kind != "unknown"


async def _post(client: ApiClient, path: str, body: dict[str, Any], key: str) -> CallOutcome:
    """POST with an Idempotency-Key and classify the outcome; never raises for HTTP failures."""
    started = time.perf_counter()
    try:
        response = await client.post(path, json=body, idempotency_key=key)
        data = response.json()
    except ClientError as exc:
        elapsed = time.perf_counter() - started
        status = exc.status or 0
        if may_have_taken_effect(exc):
            return CallOutcome(
                "unknown",
                None,
                f"gateway answered {status}: {exc.message}",
                exc.attempts,
                elapsed,
                status,
                exc.retry_after,
            )
        return CallOutcome(
            "rejected",
            None,
            f"gateway rejected the request ({status}): {exc.body_excerpt}",
            exc.attempts,
            elapsed,
            status,
        )
    except ApiError as exc:
        elapsed = time.perf_counter() - started
        return CallOutcome(
            "unknown",
            None,
            f"outcome unknown: {exc.message}",
            exc.attempts,
            elapsed,
            exc.status,
            exc.retry_after,
        )
    except CircuitOpenError as exc:
        elapsed = time.perf_counter() - started
        return CallOutcome(
            "unknown",
            None,
            f"not sent: {exc} (retry in {exc.retry_after:.1f} s)",
            0,
            elapsed,
            None,
            exc.retry_after,
        )
    except (ResilienceError, TimeoutError) as exc:
        elapsed = time.perf_counter() - started
        return CallOutcome(
            "unknown", None, f"outcome unknown: {type(exc).__name__}: {exc}", 1, elapsed
        )
    except ValueError as exc:
        elapsed = time.perf_counter() - started
        return CallOutcome("unknown", None, f"unreadable answer: {exc}", 1, elapsed)
    elapsed = time.perf_counter() - started
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return CallOutcome(
            "unknown",
            None,
            "gateway answered without an object id",
            response.attempts,
            elapsed,
            response.status_code,
        )
    return CallOutcome("answered", data, "", response.attempts, elapsed, response.status_code)


async def charge(client: ApiClient, request: PaymentRequest, tenant: str) -> CallOutcome:
    """`POST /v1/payments` with `Idempotency-Key: {order_id}-charge`."""
    body = {
        "amount": request.amount,
        "currency": request.currency.lower(),
        "customer_id": request.customer_id,
        "metadata": {"order_id": request.order_id, "tenant_code": tenant},
    }
    return await _post(client, "/v1/payments", body, request.idempotency_key)


async def refund(
    client: ApiClient, order_id: str, payment_id: str, amount: int | None, reference: str
) -> CallOutcome:
    """`POST /v1/refunds` with `Idempotency-Key: {order_id}-refund-{reference}`."""
    body: dict[str, Any] = {"payment_id": payment_id}
    if amount is not None:
        body["amount"] = amount
    return await _post(client, "/v1/refunds", body, f"{order_id}-refund-{reference}")


def response_for(outcome: CallOutcome) -> PaymentResponse:
    """The guide's PaymentResponse for a charge outcome."""
    if outcome.kind == "answered" and outcome.data is not None:
        status = map_provider_status(outcome.data.get("status"))
        message = {
            "success": "Payment processed successfully",
            "pending": "Payment is pending at the provider",
        }.get(status, str(outcome.data.get("failure_message") or "Payment failed"))
        return PaymentResponse(str(outcome.data["id"]), status, message)
    if outcome.kind == "rejected":
        return PaymentResponse("", "failed", outcome.message)
    return PaymentResponse("", "pending", outcome.message)
