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

This module runs the server and its control routes; the API is in `fake_routes`, the fault plan
applied to a request in `fake_faults`, events in `fake_events`, JSON bodies in `fake_wire`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from seawall.testing.fake_events import EventRecorder, EventSink, ProviderEvent
from seawall.testing.fake_ledger import Ledger
from seawall.testing.fake_plan import FaultPlan, FaultPlanError
from seawall.testing.fake_routes import ProviderRoutes
from seawall.testing.fake_wire import JSON, error_body, json_bytes

__all__ = [
    "EventSink",
    "FakeProvider",
    "FakeProviderError",
    "ProviderEvent",
    "serve_fake_provider",
]

_T = TypeVar("_T")


class FakeProviderError(RuntimeError):
    """The fake provider could not start or was used while stopped."""


class _ProviderApp(ProviderRoutes):
    """The aiohttp application and the state it serves; lives on one event loop."""

    def __init__(self, plan: FaultPlan, sinks: Iterable[EventSink] = ()) -> None:
        super().__init__(plan)
        self.recorder = EventRecorder(sinks)
        self.app = web.Application(client_max_size=1024 * 1024)
        self.add_routes(self.app.router)
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
        self.recorder.events.clear()
        self.epoch = time.monotonic()

    async def _counters(self, request: web.Request) -> web.Response:
        return web.Response(body=json_bytes(self.ledger.snapshot()), content_type=JSON)

    async def _get_plan(self, request: web.Request) -> web.Response:
        return web.Response(body=json_bytes(self.plan.to_dict()), content_type=JSON)

    async def _post_plan(self, request: web.Request) -> web.Response:
        try:
            plan = FaultPlan.from_dict(json.loads(await request.read()))
        except (ValueError, FaultPlanError, AttributeError) as exc:
            status, body = error_body(400, "invalid_plan", str(exc))
            return web.Response(status=status, body=body, content_type=JSON)
        self.install(plan)
        return web.Response(body=json_bytes(plan.to_dict()), content_type=JSON)

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.Response(body=b"{}", content_type=JSON)


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
        return self._call(lambda app: list(app.recorder.events))

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
            self._call(lambda app: app.recorder.sinks.append(sink))

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
