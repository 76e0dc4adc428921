"""`PaymentGatewayService`: the guide's payment integration, crash-safe, as a reference to copy.

Two ways to charge:

- `process_payment(request, invoke_context=...)` calls the gateway now (the guide's shape:
  retries from 1 s, 15 s timeout, `Idempotency-Key: {order_id}-charge`) and records the result.
- `submit_payment(request, invoke_context=..., tx=...)` only enqueues a charge job, in the
  caller's transaction if one is given (outbox): the order and its charge commit together. A
  worker runs the job with the same idempotency key however often it is redelivered, so a crash
  mid-payment resumes without charging twice.

The service needs a command API (`CommandApi`: the SQL `CommandService` or, in the AWS mode,
`DynamoCommandService`) and a job queue (`JobProducer`: the SQL `Queue`, the default on the command
service's store, or `SqsJobProducer`); the job handlers register on any worker with
`register(queue_name, handler, transactional=False)`.

Every result is merged into the order's record through `CommandService` (see `records` and
`state`). Webhooks from the gateway (`payment.completed`, `payment.failed`, `refund.created`) are
merged the same way inside the webhook's own transaction (`record_update`), so the record's new
version, the inbox's processed mark and the job's ack commit together (on DynamoDB the record
commits just before the mark: see `PaymentRecords.apply`): idempotent, and a payment never moves
backwards whatever order the events arrive in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.commands import (
    CommandApi,
    CommandModel,
    CommandService,
    InvokeContext,
    get_user_context,
)
from seawall.http import ApiClient
from seawall.jobs import Job, JobProducer, Queue, RetryLater
from seawall.jobs.backoff import job_backoff, retry_delay
from seawall.payments import gateway
from seawall.payments.gateway import CallOutcome, GatewayStats
from seawall.payments.models import (
    PaymentError,
    PaymentRequest,
    PaymentRequestError,
    PaymentResponse,
)
from seawall.payments.records import PaymentRecord, PaymentRecords
from seawall.payments.settings import GatewaySettings, build_gateway_client
from seawall.payments.state import PaymentUpdate

__all__ = [
    "CHARGE_QUEUE",
    "REFUND_QUEUE",
    "PaymentGatewayService",
    "RefundResponse",
]

log = logging.getLogger("seawall.payments")

CHARGE_QUEUE = "payments.charge"
REFUND_QUEUE = "payments.refund"


class _Registers(Protocol):
    def register(self, queue_name: str, handler: Any, *, transactional: bool = ...) -> Any: ...


@dataclass(frozen=True, slots=True)
class RefundResponse:
    """A refund's answer: the provider's refund id (or ""), `success`/`failed`/`pending`, why."""

    refund_id: str
    status: str
    message: str


def _context_for(tenant: str, payload: dict[str, Any], source: str) -> InvokeContext:
    """The invoke context a job runs under: the submitter's tenant, user and request id."""
    claims = {"custom:tenant": tenant}
    if payload.get("user_id"):
        claims["sub"] = str(payload["user_id"])
    return InvokeContext(
        headers={"x-tenant-code": tenant},
        request_id=str(payload.get("request_id") or ""),
        claims=claims,
        source=source,
    )


def _store_queue(commands: CommandApi) -> JobProducer:
    """The SQL queue on the command service's own store (the default job queue)."""
    if not isinstance(commands, CommandService):
        raise ValueError("this command service has no SQL store for jobs: pass queue=")
    return Queue(commands.store)


def charge_update(
    request: PaymentRequest, outcome: CallOutcome, extra: dict[str, Any] | None = None
) -> PaymentUpdate:
    """The record update a charge call's outcome justifies."""
    response = gateway.response_for(outcome)
    return PaymentUpdate(
        order_id=request.order_id,
        source="charge",
        status=response.status,
        transaction_id=response.transaction_id or None,
        amount=request.amount,
        currency=request.currency.lower(),
        customer_id=request.customer_id,
        message=response.message,
        extra=dict(extra or {}),
    )


class PaymentGatewayService:
    """Charges and refunds through the gateway and keeps each order's payment record right.

    `client` is an ApiClient for the gateway or GatewaySettings to build one from (URL and key
    as secret references). `default_tenant` is used when the invoke context names none.
    Use `async with` (or `aclose()`) to close a client the service built itself.
    """

    def __init__(
        self,
        client: ApiClient | GatewaySettings,
        command_service: CommandApi,
        *,
        queue: JobProducer | None = None,
        default_tenant: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_receives: int = 10,
        retry_delay_s: float = 1.0,
        retry_delay_cap_s: float = 30.0,
    ) -> None:
        if max_receives < 1:
            raise ValueError(f"max_receives must be >= 1, got {max_receives}")
        if retry_delay_s < 0 or retry_delay_cap_s < retry_delay_s:
            raise ValueError("retry delays need 0 <= retry_delay_s <= retry_delay_cap_s")
        self.stats = GatewayStats()
        if isinstance(client, GatewaySettings):
            self.client = build_gateway_client(
                client, clock=clock, listeners=(self.stats.listener,)
            )
            self._owns_client = True
        else:
            self.client = client
            self._owns_client = False
            # Retries are counted from the answers; breaker trips need the breaker's events.
            breaker = client.settings.default_policy.pipeline.breaker
            if breaker is not None:
                breaker.add_listener(self.stats.listener)
        self.commands = command_service
        self.records = PaymentRecords(command_service)
        self.queue = queue if queue is not None else _store_queue(command_service)
        self.default_tenant = default_tenant
        self.clock = clock
        self.max_receives = max_receives
        self.retry_delay_s = retry_delay_s
        self.retry_delay_cap_s = retry_delay_cap_s
        self.backoff = job_backoff(retry_delay_s, retry_delay_cap_s)

    async def aclose(self) -> None:
        """Close the gateway client if this service built it."""
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def tenant_of(self, invoke_context: InvokeContext) -> str:
        """The tenant from `get_user_context`, else the default; a clear error if neither."""
        tenant = get_user_context(invoke_context).tenant_code or (self.default_tenant or "")
        if not tenant:
            raise PaymentRequestError(
                "no tenant: send the x-tenant-code header or a custom:tenant claim, "
                "or give PaymentGatewayService a default_tenant"
            )
        return tenant

    # -- direct calls ------------------------------------------------------------------------

    async def process_payment(
        self, request: PaymentRequest, *, invoke_context: InvokeContext
    ) -> PaymentResponse:
        """Charge now and record the result; an unknown outcome is answered and kept `pending`."""
        tenant = self.tenant_of(invoke_context)
        outcome = await gateway.charge(self.client, request, tenant)
        self.stats.count(outcome)
        update = charge_update(request, outcome, {"charge_attempts": outcome.attempts})
        await self.records.apply(tenant, update, invoke_context=invoke_context)
        response = gateway.response_for(outcome)
        if outcome.kind == "unknown":
            log.warning(
                "payment outcome unknown; recorded as pending",
                extra={"order_id": request.order_id, "reason": outcome.message},
            )
        return response

    async def refund_payment(
        self,
        order_id: str,
        *,
        invoke_context: InvokeContext,
        amount: int | None = None,
        reference: str = "1",
    ) -> RefundResponse:
        """Refund a succeeded payment (all of what is left, or `amount`) and record it.

        `reference` names this refund: the key is `{order_id}-refund-{reference}`, so a second
        partial refund needs another reference.
        """
        tenant = self.tenant_of(invoke_context)
        record = await self.records.get(tenant, order_id)
        if record is None or not record.transaction_id:
            raise PaymentError(f"order {order_id!r} has no known charge to refund")
        outcome = await gateway.refund(
            self.client, order_id, record.transaction_id, amount, reference
        )
        self.stats.count(outcome)
        return await self._record_refund(tenant, order_id, outcome, invoke_context)

    async def _record_refund(
        self, tenant: str, order_id: str, outcome: CallOutcome, ctx: InvokeContext
    ) -> RefundResponse:
        if outcome.kind == "answered" and outcome.data is not None:
            refund_id = str(outcome.data["id"])
            update = PaymentUpdate(
                order_id=order_id,
                source="refund",
                refund_id=refund_id,
                refund_amount=int(outcome.data.get("amount") or 0),
            )
            await self.records.apply(tenant, update, invoke_context=ctx)
            return RefundResponse(refund_id, "success", "Refund created")
        if outcome.kind == "rejected":
            return RefundResponse("", "failed", outcome.message)
        return RefundResponse("", "pending", outcome.message)

    async def get_payment(
        self, order_id: str, *, invoke_context: InvokeContext
    ) -> PaymentRecord | None:
        """The order's payment record in the caller's tenant, or None."""
        return await self.records.get(self.tenant_of(invoke_context), order_id)

    # -- durable calls -----------------------------------------------------------------------

    def _job_payload(self, invoke_context: InvokeContext, **fields: Any) -> dict[str, Any]:
        user = get_user_context(invoke_context)
        return {
            **fields,
            "tenant": self.tenant_of(invoke_context),
            "user_id": user.user_id,
            "request_id": invoke_context.request_id,
            "submitted_at": self.clock.time(),
        }

    async def submit_payment(
        self, request: PaymentRequest, *, invoke_context: InvokeContext, tx: Any = None
    ) -> str | None:
        """Enqueue the charge (in `tx`, the queue's transaction, when given); the job id, or
        None if already submitted.

        Submitting the same order twice within the queue's dedup window enqueues it once; later
        repeats are harmless too, because the job charges with the order's idempotency key.
        """
        payload = self._job_payload(invoke_context, request=request.to_dict())
        return await self.queue.enqueue(
            CHARGE_QUEUE,
            payload,
            tx=tx,
            dedup_key=request.idempotency_key,
            max_receives=self.max_receives,
        )

    async def submit_refund(
        self,
        order_id: str,
        *,
        invoke_context: InvokeContext,
        amount: int | None = None,
        reference: str = "1",
        tx: Any = None,
    ) -> str | None:
        """Enqueue a refund of the order (in `tx` when given); it waits for the charge to settle."""
        if amount is not None and (isinstance(amount, bool) or amount <= 0):
            raise PaymentRequestError(f"refund amount must be a positive integer, got {amount!r}")
        payload = self._job_payload(
            invoke_context, order_id=order_id, amount=amount, reference=reference
        )
        return await self.queue.enqueue(
            REFUND_QUEUE,
            payload,
            tx=tx,
            dedup_key=f"{order_id}-refund-{reference}",
            max_receives=self.max_receives,
        )

    def register(self, worker: _Registers) -> None:
        """Register the charge and refund job handlers on `worker`.

        They are not transactional: they call the gateway, and each record change commits on
        its own; redelivery is safe because keys are stable and merges are idempotent.
        """
        worker.register(CHARGE_QUEUE, self.handle_charge_job, transactional=False)
        worker.register(REFUND_QUEUE, self.handle_refund_job, transactional=False)

    def _backoff(self, job: Job, hint: float | None) -> float:
        return retry_delay(self.backoff, job, hint)

    async def handle_charge_job(self, job: Job) -> None:
        """Charge with the order's key; retry later while the outcome is unknown."""
        request = PaymentRequest.from_dict(job.payload["request"])
        tenant = str(job.payload["tenant"])
        outcome = await gateway.charge(self.client, request, tenant)
        self.stats.count(outcome)
        last = job.is_last_receive
        if not outcome.settled and not last:
            raise RetryLater(self._backoff(job, outcome.retry_after), outcome.message)
        submitted = float(job.payload.get("submitted_at") or 0.0)
        extra = {
            "charge_attempts": outcome.attempts,
            "charge_call_ms": round(outcome.elapsed_s * 1000.0, 3),
            "charge_receives": job.receives,
            "submitted_at": submitted,
            "latency_ms": round((self.clock.time() - submitted) * 1000.0, 3),
        }
        ctx = _context_for(tenant, job.payload, "payments.charge")
        await self.records.apply(tenant, charge_update(request, outcome, extra), invoke_context=ctx)
        if not outcome.settled:
            raise PaymentError(
                f"charge of order {request.order_id} still unknown after {job.receives} "
                f"receives ({outcome.message}); recorded as pending, redrive to try again"
            )

    async def handle_refund_job(self, job: Job) -> None:
        """Refund once the charge is known to have succeeded; retry later until then."""
        tenant = str(job.payload["tenant"])
        order_id = str(job.payload["order_id"])
        amount = job.payload.get("amount")
        reference = str(job.payload.get("reference") or "1")
        record = await self.records.get(tenant, order_id)
        if record is None or record.status == "pending" or not record.transaction_id:
            raise RetryLater(self._backoff(job, None), f"order {order_id} is not settled yet")
        if record.status == "failed":
            log.warning("refund skipped: the payment failed", extra={"order_id": order_id})
            return
        outcome = await gateway.refund(
            self.client, order_id, record.transaction_id, amount, reference
        )
        self.stats.count(outcome)
        if not outcome.settled and not job.is_last_receive:
            raise RetryLater(self._backoff(job, outcome.retry_after), outcome.message)
        ctx = _context_for(tenant, job.payload, "payments.refund")
        answer = await self._record_refund(tenant, order_id, outcome, ctx)
        if answer.status == "failed":
            log.warning(
                "refund rejected by the gateway",
                extra={"order_id": order_id, "reason": answer.message},
            )
        elif answer.status == "pending":
            raise PaymentError(f"refund of order {order_id} still unknown: {answer.message}")

    async def record_update(
        self, tenant: str, update: PaymentUpdate, *, tx: Any, request_id: str = ""
    ) -> CommandModel | None:
        """Merge `update` into the order's record in `tx` (how webhook handlers record events).

        On the SQL service the new version commits or rolls back with `tx`; if a concurrent
        writer moved the record on since it was read in `tx`, VersionMismatchError propagates:
        roll back and retry (the webhook worker does, with backoff). A `tx` the command API
        cannot join (a DynamoTx) is not joined: see `PaymentRecords.apply`.
        """
        ctx = _context_for(tenant, {"request_id": request_id}, "payments.webhook")
        return await self.records.apply(tenant, update, invoke_context=ctx, tx=tx)
