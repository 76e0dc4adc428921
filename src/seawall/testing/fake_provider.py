"""FakeProvider: a real HTTP server on 127.0.0.1 that behaves like a flaky third-party API.

It emulates a resource API (`GET /resources/{id}`, `POST /resources`) and a payment gateway
(`POST /v1/payments`, `GET /v1/payments/{id}`, `POST /v1/refunds`) that honours Idempotency-Key
like a real one: the same key and body replay the stored answer (header `Idempotent-Replayed:
true`), the same key with another body gets 422, and a request whose key is still being
processed gets 409. A seeded `FaultPlan` injects faults per route, including faults that strike
after a charge was stored. Control routes (never faulted): `GET /__counters`, `GET /__plan`,
`POST /__plan`, `POST /__reset`.

Every charge and refund is also published as a `ProviderEvent` to the registered `EventSink`s;
signed webhook delivery plugs in there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

from aiohttp import web

from seawall.testing.fake_ledger import IdempotencyEntry, Ledger, fingerprint
from seawall.testing.fake_plan import (
    AFTER_FAULTS,
    BEFORE_FAULTS,
    FaultPlan,
    FaultPlanError,
    RouteFaults,
)

__all__ = [
    "EventSink",
    "FakeProvider",
    "FakeProviderError",
    "ProviderEvent",
    "serve_fake_provider",
]

_T = TypeVar("_T")

ROUTE_GET_RESOURCE = "GET /resources/{id}"
ROUTE_POST_RESOURCE = "POST /resources"
ROUTE_POST_PAYMENT = "POST /v1/payments"
ROUTE_GET_PAYMENT = "GET /v1/payments/{id}"
ROUTE_POST_REFUND = "POST /v1/refunds"

_JSON = "application/json"


class FakeProviderError(RuntimeError):
    """The fake provider could not start or was used while stopped."""


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """Something that happened at the provider (`payment.completed`, `refund.created`...)."""

    id: str
    type: str
    created: float
    sequence: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as the JSON payload a webhook would carry."""
        return {
            "id": self.id,
            "type": self.type,
            "created": self.created,
            "sequence": self.sequence,
            "data": self.data,
        }


@runtime_checkable
class EventSink(Protocol):
    """Receives provider events on the provider's event loop (e.g. a webhook sender)."""

    async def deliver(self, event: ProviderEvent) -> None:
        """Handle one event; exceptions are swallowed so they never break the provider."""
        ...


def _json_bytes(data: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":")).encode()


def _error(status: int, kind: str, message: str) -> tuple[int, bytes]:
    """A gateway-style error body."""
    return status, _json_bytes({"error": {"type": kind, "message": message}})


def _answer(status: int, payload: bytes, replayed: bool) -> web.Response:
    """A JSON answer; replays of a stored idempotent answer say so in a header."""
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return web.Response(status=status, body=payload, content_type=_JSON, headers=headers)


class _ProviderApp:
    """The aiohttp application and the state it serves; lives on one event loop."""

    def __init__(self, plan: FaultPlan, sinks: Iterable[EventSink] = ()) -> None:
        self.plan = plan
        self.ledger = Ledger()
        self.epoch = time.monotonic()
        self.sinks: list[EventSink] = list(sinks)
        self.events: list[ProviderEvent] = []
        self.stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = web.Application(client_max_size=1024 * 1024)
        self.app.router.add_get("/resources/{id}", self._get_resource)
        self.app.router.add_post("/resources", self._post_resource)
        self.app.router.add_post("/v1/payments", self._post_payment)
        self.app.router.add_get("/v1/payments/{id}", self._get_payment)
        self.app.router.add_post("/v1/refunds", self._post_refund)
        self.app.router.add_get("/__counters", self._counters)
        self.app.router.add_get("/__plan", self._get_plan)
        self.app.router.add_post("/__plan", self._post_plan)
        self.app.router.add_post("/__reset", self._reset)

    # -- control ---------------------------------------------------------------------------

    def install(self, plan: FaultPlan) -> None:
        """Use `plan` from now on; outage windows count from this moment."""
        self.plan = plan
        self.epoch = time.monotonic()
        self.ledger.draws.clear()

    def reset(self) -> None:
        """Forget everything and restart the outage clock."""
        self.ledger = Ledger()
        self.events.clear()
        self.epoch = time.monotonic()

    async def _counters(self, request: web.Request) -> web.Response:
        return web.Response(body=_json_bytes(self.ledger.snapshot()), content_type=_JSON)

    async def _get_plan(self, request: web.Request) -> web.Response:
        return web.Response(body=_json_bytes(self.plan.to_dict()), content_type=_JSON)

    async def _post_plan(self, request: web.Request) -> web.Response:
        try:
            plan = FaultPlan.from_dict(json.loads(await request.read()))
        except (ValueError, FaultPlanError, AttributeError) as exc:
            status, body = _error(400, "invalid_plan", str(exc))
            return web.Response(status=status, body=body, content_type=_JSON)
        self.install(plan)
        return web.Response(body=_json_bytes(plan.to_dict()), content_type=_JSON)

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.Response(body=b"{}", content_type=_JSON)

    # -- events ----------------------------------------------------------------------------

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        """Record an event and hand it to every sink in the background."""
        sequence = len(self.events) + 1
        event = ProviderEvent(
            id=f"evt_{sequence:06d}", type=kind, created=time.time(), sequence=sequence, data=data
        )
        self.events.append(event)
        for sink in self.sinks:
            task = asyncio.get_running_loop().create_task(self._deliver(sink, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, sink: EventSink, event: ProviderEvent) -> None:
        with contextlib.suppress(Exception):
            await sink.deliver(event)

    # -- fault machinery -------------------------------------------------------------------

    async def _wait(self, seconds: float) -> None:
        """Sleep, but end at once when the provider stops."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), seconds)

    def _rng(self, route: str, key: str | None) -> tuple[random.Random, int]:
        """A generator for this request, fixed by seed, route, key and the key's request count
        (returned too: how many requests of this key came before).

        Requests with an Idempotency-Key draw the same faults in any interleaving.
        """
        discriminator = key or ""
        n = self.ledger.draws[(route, discriminator)]
        self.ledger.draws[(route, discriminator)] = n + 1
        return random.Random(f"{self.plan.seed}|{route}|{discriminator}|{n}"), n

    @staticmethod
    def _reset_connection(request: web.Request) -> web.Response:
        """Abort the connection with a TCP reset."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return web.Response(status=500)

    async def _truncated(
        self, request: web.Request, status: int, body: bytes
    ) -> web.StreamResponse:
        """Send the headers and half of the body, then close the connection."""
        resp = web.StreamResponse(status=status, headers={"Content-Type": _JSON})
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(body[: max(1, len(body) // 2)])
        if request.transport is not None:
            request.transport.close()
        return resp

    def _status_fault(self, faults: RouteFaults, status: int) -> web.Response:
        """A fault answer with a plausible body (and Retry-After for 429/503)."""
        headers = {}
        if status in (429, 503):
            if faults.retry_after_http_date:
                from email.utils import formatdate

                headers["Retry-After"] = formatdate(time.time() + faults.retry_after_s, usegmt=True)
            else:
                headers["Retry-After"] = f"{faults.retry_after_s:g}"
        _, body = _error(status, "provider_error", f"injected {status}")
        return web.Response(status=status, body=body, content_type=_JSON, headers=headers)

    async def _serve(
        self,
        request: web.Request,
        route: str,
        work: Callable[[bytes, str | None, float], Awaitable[tuple[int, bytes, bool]]],
    ) -> web.StreamResponse:
        """Run `work` under the route's fault plan and count the outcome."""
        faults = self.plan.for_route(route)
        key = request.headers.get("Idempotency-Key")
        body = await request.read() if request.can_read_body else b""
        ledger = self.ledger
        if not faults.active:
            status, payload, replayed = await work(body, key, 0.0)
            ledger.count(route, "replayed" if replayed else str(status))
            return _answer(status, payload, replayed)

        since = time.monotonic() - self.epoch
        for outage in faults.outages:
            if outage.covers(since):
                ledger.count(route, "outage")
                if outage.mode == "reset":
                    return self._reset_connection(request)
                if outage.mode == "hang":
                    await self._wait(faults.hang_s)
                    return self._status_fault(faults, 504)
                return self._status_fault(faults, 503 if outage.mode == "status_503" else 500)

        rng, seen = self._rng(route, key)
        limit = faults.faulty_requests_per_key
        clean = limit is not None and key is not None and seen >= limit
        before = None if clean else faults.draw(rng, BEFORE_FAULTS)
        after = None if clean else faults.draw(rng, AFTER_FAULTS)
        delay = faults.latency.sample(rng) if faults.latency.active else 0.0

        if before is not None:
            ledger.count(route, before)
            if before == "reset":
                return self._reset_connection(request)
            if before == "hang":
                await self._wait(faults.hang_s)
                return self._status_fault(faults, 504)
            return self._status_fault(faults, int(before.removeprefix("status_")))

        status, payload, replayed = await work(body, key, delay)
        if after is None or status >= 400:
            ledger.count(route, "replayed" if replayed else str(status))
            return _answer(status, payload, replayed)
        ledger.count(route, after)
        if after == "truncate":
            return await self._truncated(request, status, payload)
        if after == "invalid_json":
            return web.Response(status=status, body=payload[:-1] + b",}", content_type=_JSON)
        if after == "after_reset":
            return self._reset_connection(request)
        if after == "after_hang":
            await self._wait(faults.hang_s)
            return _answer(status, payload, replayed)
        return self._status_fault(faults, 500)

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
            await self._wait(delay)
            return (*compute(body, key), False)
        slot = (route, key)
        digest = fingerprint(body)
        entry = self.ledger.idempotency.get(slot)
        if entry is not None:
            if entry.in_flight:
                return (
                    *_error(409, "idempotency_error", "a request with this key is in flight"),
                    False,
                )
            if entry.fingerprint != digest:
                return (
                    *_error(422, "idempotency_error", "key reused with a different request body"),
                    False,
                )
            return entry.status, entry.body, True
        entry = IdempotencyEntry(fingerprint=digest)
        ledger = self.ledger
        ledger.idempotency[slot] = entry
        try:
            await self._wait(delay)
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
            await self._wait(delay)
            resource = self.ledger.resources.get(rid)
            if resource is None:
                return (*_error(404, "not_found", f"no resource {rid}"), False)
            return 200, _json_bytes(resource), False

        return await self._serve(request, ROUTE_GET_RESOURCE, work)

    def _create_resource(self, body: bytes, key: str | None) -> tuple[int, bytes]:
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return _error(400, "invalid_request_error", "body is not JSON")
        if not isinstance(data, dict):
            return _error(400, "invalid_request_error", "body must be a JSON object")
        resource = {**data, "id": self.ledger.next_id("res"), "created": time.time()}
        self.ledger.resources[resource["id"]] = resource
        return 201, _json_bytes(resource)

    async def _post_resource(self, request: web.Request) -> web.StreamResponse:
        async def work(body: bytes, key: str | None, delay: float) -> tuple[int, bytes, bool]:
            return await self._idempotent(
                ROUTE_POST_RESOURCE, key, body, delay, self._create_resource
            )

        return await self._serve(request, ROUTE_POST_RESOURCE, work)

    # -- payments --------------------------------------------------------------------------

    def _charge(self, body: bytes, key: str | None) -> tuple[int, bytes]:
        """Validate a payment request, decide its outcome and store the charge."""
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "invalid_request_error", "body is not JSON")
        if not isinstance(data, dict):
            return _error(400, "invalid_request_error", "body must be a JSON object")
        amount = data.get("amount")
        currency = data.get("currency")
        customer = data.get("customer_id")
        metadata = data.get("metadata", {})
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return _error(400, "invalid_request_error", "amount must be a positive integer")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            return _error(400, "invalid_request_error", "currency must be a 3-letter code")
        if not isinstance(customer, str) or not customer:
            return _error(400, "invalid_request_error", "customer_id is required")
        if not isinstance(metadata, dict):
            return _error(400, "invalid_request_error", "metadata must be an object")
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
            self.emit(kind, dict(payment))
        return 200, _json_bytes(payment)

    async def _post_payment(self, request: web.Request) -> web.StreamResponse:
        async def work(body: bytes, key: str | None, delay: float) -> tuple[int, bytes, bool]:
            return await self._idempotent(ROUTE_POST_PAYMENT, key, body, delay, self._charge)

        return await self._serve(request, ROUTE_POST_PAYMENT, work)

    async def _get_payment(self, request: web.Request) -> web.StreamResponse:
        pid = request.match_info["id"]

        async def work(body: bytes, key: str | None, delay: float) -> tuple[int, bytes, bool]:
            await self._wait(delay)
            payment = self.ledger.payments.get(pid)
            if payment is None:
                return (*_error(404, "not_found", f"no payment {pid}"), False)
            return 200, _json_bytes(payment), False

        return await self._serve(request, ROUTE_GET_PAYMENT, work)

    def _refund(self, body: bytes, key: str | None) -> tuple[int, bytes]:
        """Validate and store a refund against a succeeded payment."""
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "invalid_request_error", "body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("payment_id"), str):
            return _error(400, "invalid_request_error", "payment_id is required")
        payment = self.ledger.payments.get(data["payment_id"])
        if payment is None:
            return _error(404, "not_found", f"no payment {data['payment_id']}")
        if payment["status"] != "succeeded":
            return _error(400, "invalid_request_error", "only succeeded payments can be refunded")
        remaining = payment["amount"] - payment["amount_refunded"]
        amount = data.get("amount", remaining)
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= remaining:
            return _error(400, "invalid_request_error", f"amount must be in 1..{remaining}")
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
        self.emit("refund.created", dict(refund))
        return 200, _json_bytes(refund)

    async def _post_refund(self, request: web.Request) -> web.StreamResponse:
        async def work(body: bytes, key: str | None, delay: float) -> tuple[int, bytes, bool]:
            return await self._idempotent(ROUTE_POST_REFUND, key, body, delay, self._refund)

        return await self._serve(request, ROUTE_POST_REFUND, work)


async def _start_site(app: _ProviderApp, sock: socket.socket) -> web.AppRunner:
    """Start serving `app` on an already bound socket."""
    runner = web.AppRunner(app.app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class FakeProvider:
    """The fake provider running in a background thread with its own event loop.

    Use it as `with FakeProvider(plan) as provider:` in sync tests or `async with` in async
    tests; `provider.url` is the base URL. `counters()`, `set_plan()` and `reset()` work from
    any thread, as do the HTTP control routes.
    """

    def __init__(
        self,
        plan: FaultPlan | None = None,
        *,
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        event_sinks: Iterable[EventSink] = (),
    ) -> None:
        plan = plan if plan is not None else FaultPlan()
        if seed is not None:
            plan = dataclasses.replace(plan, seed=seed)
        self._plan = plan
        self._host = host
        self._requested_port = port
        self._sinks = list(event_sinks)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._app: _ProviderApp | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:41234`."""
        if not self.port:
            raise FakeProviderError("FakeProvider is not running; call start() or use `with`")
        return f"http://{self._host}:{self.port}"

    def start(self) -> Self:
        """Bind a port and start serving in a background thread; returns when ready."""
        if self._thread is not None:
            return self
        sock = _bind(self._host, self._requested_port)
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._app = _ProviderApp(self._plan, self._sinks)
                self._runner = loop.run_until_complete(_start_site(self._app, sock))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-provider-{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            self.port = 0
            raise FakeProviderError(f"FakeProvider failed to start: {failure[0]!r}")
        return self

    def stop(self) -> None:
        """Stop serving (hanging requests end at once) and join the thread."""
        thread, loop, app = self._thread, self._loop, self._app
        if thread is None or loop is None or app is None:
            return

        async def shutdown() -> None:
            app.stopping.set()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self.port = 0

    def _call(self, fn: Callable[[_ProviderApp], _T]) -> _T:
        """Run `fn` on the provider's loop and return its result."""
        loop, app = self._loop, self._app
        if self._thread is None or loop is None or app is None:
            raise FakeProviderError("FakeProvider is not running; call start() or use `with`")

        async def call() -> _T:
            return fn(app)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    def counters(self) -> dict[str, Any]:
        """Requests by route and outcome, charges by key and order, duplicate charges."""
        return self._call(lambda app: app.ledger.snapshot())

    def payments(self) -> list[dict[str, Any]]:
        """A copy of every stored payment."""
        return self._call(lambda app: [dict(p) for p in app.ledger.payments.values()])

    def events(self) -> list[ProviderEvent]:
        """Every event published so far, in order."""
        return self._call(lambda app: list(app.events))

    def set_plan(self, plan: FaultPlan) -> None:
        """Switch to `plan`; its outage windows count from now."""
        self._call(lambda app: app.install(plan))

    def reset(self) -> None:
        """Forget all resources, payments, keys and counters."""
        self._call(lambda app: app.reset())

    def add_event_sink(self, sink: EventSink) -> None:
        """Publish future events to `sink` too."""
        self._sinks.append(sink)
        if self._app is not None:
            self._call(lambda app: app.sinks.append(sink))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def serve_fake_provider(
    host: str = "127.0.0.1",
    port: int = 8765,
    plan: FaultPlan | None = None,
    seed: int = 0,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the fake provider in the foreground until interrupted (for `seawall fake-provider`).

    `ready` is called with the base URL once the port is listening.
    """
    plan = dataclasses.replace(plan if plan is not None else FaultPlan(), seed=seed)
    sock = _bind(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"

    async def main() -> None:
        app = _ProviderApp(plan)
        runner = await _start_site(app, sock)
        if ready is not None:
            ready(url)
        try:
            await asyncio.Event().wait()
        finally:
            app.stopping.set()
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
