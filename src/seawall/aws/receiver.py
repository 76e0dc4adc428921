"""The webhook receiver as a Lambda function: verify the raw body, store it, enqueue, answer.

Behind API Gateway (REST or HTTP API) or a Function URL. The delivery rules are the ASGI
receiver's own (`seawall.webhooks.delivery.check_delivery`): the same refusals with the same
statuses and reasons, the same id and type for everything else. A 2xx leaves only after the
event is stored in DynamoDB (guarantee 1); its processing message is then sent to SQS.

The inbox item and the SQS message cannot commit together. If the send fails after the item was
stored, the answer is 503 and the provider delivers again; that delivery finds the item still
`received` and sends the message again. Every duplicate of an event that is still `received`
sends one, so nothing stored is ever stranded; the worker's inbox mark makes the extra messages
harmless. Cost: a new event is one PutItem and one SendMessage; a duplicate adds a GetItem.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seawall.aws.http_events import BadEventError, LambdaRequest, request_of, response
from seawall.aws.inbox import DynamoInbox
from seawall.aws.sqs import SqsQueue
from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.observability.asgi import context_value
from seawall.observability.logging import log_context
from seawall.webhooks.delivery import (
    Rejected,
    check_delivery,
    check_header_bytes,
    check_method,
    too_large,
)
from seawall.webhooks.endpoint import WebhookEndpoint
from seawall.webhooks.inbox import InboxEntry
from seawall.webhooks.job_payload import event_job_text
from seawall.webhooks.receiver import WebhookStats

__all__ = ["LambdaWebhookReceiver"]

log = logging.getLogger("seawall.aws")

_RECEIVED = {"received": True}
_DUPLICATE = {"received": True, "duplicate": True}
_RETRY_AFTER_S = "5"


class LambdaWebhookReceiver:
    """A Lambda handler `(event, context) -> answer` serving `endpoints` by path.

    A request's endpoint is the one whose path equals the request's path, else the one whose
    source is the `{source}` path parameter (a route like `POST /webhooks/{source}`).
    """

    def __init__(
        self,
        endpoints: Sequence[WebhookEndpoint],
        inbox: DynamoInbox,
        queue: SqsQueue,
        *,
        clock: Clock = SYSTEM_CLOCK,
        stats: WebhookStats | None = None,
        on_bad_signature: Callable[[WebhookEndpoint], WebhookEndpoint | None] | None = None,
    ) -> None:
        self.inbox = inbox
        self.queue = queue
        self.clock = clock
        self.stats = stats if stats is not None else WebhookStats()
        self.on_bad_signature = on_bad_signature
        """Called once when a signature fails: may return the endpoint with fresh secrets (a
        rotation), which is then tried once before the request is refused."""
        self._by_path = {e.path: e for e in endpoints}
        self._by_source = {e.source: e for e in endpoints}

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Handle one HTTP invocation."""
        try:
            request = request_of(event)
        except BadEventError as exc:
            return response(400, {"message": str(exc), "reason": "bad_event"})
        request_id = context_value(request.headers.get("x-request-id", "").encode()) or (
            request.request_id or getattr(context, "aws_request_id", "")
        )
        endpoint = self._by_path.get(request.path) or self._by_source.get(
            request.path_parameters.get("source", "")
        )
        if endpoint is None:
            return response(404, {"message": "No webhook endpoint here", "reason": "not_found"})
        with log_context(request_id=request_id or None, source=endpoint.source):
            return self._receive(endpoint, request)

    def _receive(self, endpoint: WebhookEndpoint, request: LambdaRequest) -> dict[str, Any]:
        source = endpoint.source
        try:
            entry = self._check(endpoint, request)
        except Rejected as rejected:
            self.stats.rejected[(source, rejected.reason)] += 1
            log.warning(
                "webhook rejected: source=%s reason=%s status=%d %s",
                source,
                rejected.reason,
                rejected.status,
                rejected.detail or rejected.message,
            )
            extra = {"allow": "POST"} if rejected.status == 405 else {}
            headers = {"content-type": "application/json", **extra}
            return response(rejected.status, rejected.body(), headers)
        try:
            new = self.inbox.insert(entry)
            if new or self._still_waiting(entry):
                self.queue.send(event_job_text(entry.source, entry.event_id), group_id=source)
        except Exception as exc:
            self.stats.store_errors[source] += 1
            log.error(
                "webhook not stored or not queued (answering 503): source=%s event=%s: %s",
                source,
                entry.event_id,
                exc,
            )
            body = {
                "message": "Webhook store unavailable; deliver again later",
                "reason": "store_unavailable",
            }
            return response(503, body, {"retry-after": _RETRY_AFTER_S})
        if new:
            self.stats.accepted[source] += 1
            return response(200, _RECEIVED)
        self.stats.duplicates[source] += 1
        return response(200, _DUPLICATE)

    def _still_waiting(self, entry: InboxEntry) -> bool:
        """True when a duplicate's stored event is still `received` (its message may be lost)."""
        row = self.inbox.load(entry.source, entry.event_id)
        return row is not None and row.get("status") == "received"

    def _check(self, endpoint: WebhookEndpoint, request: LambdaRequest) -> InboxEntry:
        check_method(request.method)
        size = sum(len(k) + len(v) for k, v in request.headers.items())
        check_header_bytes(size, endpoint.max_header_bytes)
        if len(request.body) > endpoint.max_body_bytes:
            raise too_large(endpoint.max_body_bytes)
        now = self.clock.time()
        try:
            return check_delivery(endpoint, request.body, request.headers, now)
        except Rejected as rejected:
            if not rejected.signature or self.on_bad_signature is None:
                raise
            fresh = self.on_bad_signature(endpoint)
            if fresh is None or fresh is endpoint:
                raise
            self._by_path[fresh.path] = self._by_source[fresh.source] = fresh
            return check_delivery(fresh, request.body, request.headers, now)
