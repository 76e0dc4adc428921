"""The fake provider's API: resources, payments and refunds, with Idempotency-Key semantics
(the same key and body replay the stored answer, another body gets 422, a key in flight 409)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from aiohttp import web

from seawall.testing.fake_events import EventRecorder
from seawall.testing.fake_faults import FaultedServer
from seawall.testing.fake_ledger import IdempotencyEntry, fingerprint
from seawall.testing.fake_wire import error_body, json_bytes

__all__ = [
    "ROUTE_GET_PAYMENT",
    "ROUTE_GET_RESOURCE",
    "ROUTE_POST_PAYMENT",
    "ROUTE_POST_REFUND",
    "ROUTE_POST_RESOURCE",
    "ProviderRoutes",
]

ROUTE_GET_RESOURCE = "GET /resources/{id}"
ROUTE_POST_RESOURCE = "POST /resources"
ROUTE_POST_PAYMENT = "POST /v1/payments"
ROUTE_GET_PAYMENT = "GET /v1/payments/{id}"
ROUTE_POST_REFUND = "POST /v1/refunds"


class ProviderRoutes(FaultedServer):
    """The API routes, each served under the fault plan."""

    recorder: EventRecorder

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the API routes on `router`."""
        router.add_get("/resources/{id}", self._get_resource)
        router.add_post("/resources", self._post_resource)
        router.add_post("/v1/payments", self._post_payment)
        router.add_get("/v1/payments/{id}", self._get_payment)
        router.add_post("/v1/refunds", self._post_refund)

    async def _idempotent(
        self,
        route: str,
        key: str | None,
        body: bytes,
        delay: float,
        compute: Callable[[bytes, str | None], tuple[int, bytes]],
    ) -> tuple[int, bytes, bool]:
        """Apply Idempotency-Key semantics around `compute`; `delay` is processing time."""
        if key is None:
            await self.wait(delay)
            return (*compute(body, key), False)
        slot = (route, key)
        digest = fingerprint(body)
        entry = self.ledger.idempotency.get(slot)
        if entry is not None:
            if entry.in_flight:
                return (
                    *error_body(409, "idempotency_error", "a request with this key is in flight"),
                    False,
                )
            if entry.fingerprint != digest:
                return (
                    *error_body(
                        422, "idempotency_error", "key reused with a different request body"
                    ),
                    False,
                )
            return entry.status, entry.body, True
        entry = IdempotencyEntry(fingerprint=digest)
        ledger = self.ledger
        ledger.idempotency[slot] = entry
        try:
            await self.wait(delay)
            status, payload = compute(body, key)
        except BaseException:
            ledger.idempotency.pop(slot, None)
            raise
        entry.status, entry.body, entry.in_flight = status, payload, False
        return status, payload, False

    # -- resources -------------------------------------------------------------------------

    async def _get_resource(self, request: web.Request) -> web.StreamResponse:
        rid = request.match_info["id"]

        async def work(body: bytes, key: str | None, delay: float) -> tuple[int, bytes, bool]:
            await self.wait(delay)
            resource = self.ledger.resources.get(rid)
            if resource is None:
                return (*error_body(404, "not_found", f"no resource {rid}"), False)
            return 200, json_bytes(resource), False

        return await self.serve(request, ROUTE_GET_RESOURCE, work)

    def _create_resource(self, body: bytes, key: str | None) -> tuple[int, bytes]:
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return error_body(400, "invalid_request_error", "body is not JSON")
        if not isinstance(data, dict):
            return error_body(400, "invalid_request_error", "body must be a JSON object")
        resource = {**data, "id": self.ledger.next_id("res"), "created": time.time()}
        self.ledger.resources[resource["id"]] = resource
        return 201, json_bytes(resource)

    async def _post_resource(self, request: web.Request) -> web.StreamResponse:
        async def work(body: bytes, key: str | None, delay: float) -> tuple[int, bytes, bool]:
            return await self._idempotent(
                ROUTE_POST_RESOURCE, key, body, delay, self._create_resource
            )

        return await self.serve(request, ROUTE_POST_RESOURCE, work)

    # -- payments --------------------------------------------------------------------------

    def _charge(self, body: bytes, key: str | None) -> tuple[int, bytes]:
        """Validate a payment request, decide its outcome and store the charge."""
        try:
            data = json.loads(body)
        except ValueError:
            return error_body(400, "invalid_request_error", "body is not JSON")
        if not isinstance(data, dict):
            return error_body(400, "invalid_request_error", "body must be a JSON object")
        amount = data.get("amount")
        currency = data.get("currency")
        customer = data.get("customer_id")
        metadata = data.get("metadata", {})
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return error_body(400, "invalid_request_error", "amount must be a positive integer")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            return error_body(400, "invalid_request_error", "currency must be a 3-letter code")
        if not isinstance(customer, str) or not customer:
            return error_body(400, "invalid_request_error", "customer_id is required")
        if not isinstance(metadata, dict):
            return error_body(400, "invalid_request_error", "metadata must be an object")
        order_id = metadata.get("order_id")
        order_id = str(order_id) if order_id is not None else None
        ledger = self.ledger
        pid = ledger.next_id("pay")
        outcome = self.plan.payments.decide(self.plan.seed, order_id or key or pid, amount)
        payment = {
            "id": pid,
            "object": "payment",
            "status": outcome,
            "amount": amount,
            "amount_refunded": 0,
            "currency": currency.lower(),
            "customer_id": customer,
            "metadata": metadata,
            "created": time.time(),
        }
        if outcome == "failed":
            payment["failure_message"] = "card_declined"
        ledger.payments[pid] = payment
        ledger.record_charge(key, order_id)
        if outcome != "pending":
            kind = "payment.completed" if outcome == "succeeded" else "payment.failed"
            self.recorder.emit(kind, dict(payment))
        return 200, json_bytes(payment)

    async def _post_payment(self, request: web.Request) -> web.StreamResponse:
        async def work(body: bytes, key: str | None, delay: float) -> tuple[int, bytes, bool]:
            return await self._idempotent(ROUTE_POST_PAYMENT, key, body, delay, self._charge)

        return await self.serve(request, ROUTE_POST_PAYMENT, work)

    async def _get_payment(self, request: web.Request) -> web.StreamResponse:
        pid = request.match_info["id"]

        async def work(body: bytes, key: str | None, delay: float) -> tuple[int, bytes, bool]:
            await self.wait(delay)
            payment = self.ledger.payments.get(pid)
            if payment is None:
                return (*error_body(404, "not_found", f"no payment {pid}"), False)
            return 200, json_bytes(payment), False

        return await self.serve(request, ROUTE_GET_PAYMENT, work)

    def _refund(self, body: bytes, key: str | None) -> tuple[int, bytes]:
        """Validate and store a refund against a succeeded payment."""
        try:
            data = json.loads(body)
        except ValueError:
            return error_body(400, "invalid_request_error", "body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("payment_id"), str):
            return error_body(400, "invalid_request_error", "payment_id is required")
        payment = self.ledger.payments.get(data["payment_id"])
        if payment is None:
            return error_body(404, "not_found", f"no payment {data['payment_id']}")
        if payment["status"] != "succeeded":
            return error_body(
                400, "invalid_request_error", "only succeeded payments can be refunded"
            )
        remaining = payment["amount"] - payment["amount_refunded"]
        amount = data.get("amount", remaining)
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= remaining:
            return error_body(400, "invalid_request_error", f"amount must be in 1..{remaining}")
        payment["amount_refunded"] += amount
        refund = {
            "id": self.ledger.next_id("re"),
            "object": "refund",
            "status": "succeeded",
            "payment_id": payment["id"],
            "amount": amount,
            "currency": payment["currency"],
            "metadata": payment["metadata"],
            "created": time.time(),
        }
        self.ledger.refunds[refund["id"]] = refund
        self.recorder.emit("refund.created", dict(refund))
        return 200, json_bytes(refund)

    async def _post_refund(self, request: web.Request) -> web.StreamResponse:
        async def work(body: bytes, key: str | None, delay: float) -> tuple[int, bytes, bool]:
            return await self._idempotent(ROUTE_POST_REFUND, key, body, delay, self._refund)

        return await self.serve(request, ROUTE_POST_REFUND, work)
