"""The ASGI service: the configured webhook endpoints, the store, and an in-process worker.

`build_app(config)` returns a Starlette app. Its state carries `store`, `webhooks` and `worker`
(None with `with_worker=False`) for the routes other parts add through `extra_routes` and for
`lifespan_hooks`: async context managers entered after the store is migrated and left before it
closes, each called with the app.

While it runs, the service lowers the interpreter's thread switch interval (default 5 ms) to
`switch_interval_s` (0.5 ms): the SQLite store runs statements on a writer thread, and with the
default that thread waits up to 5 ms for the GIL after each statement whenever the event loop is
busy parsing requests. Measured in process (32 concurrent verified requests into SQLite), this
raises ingestion from about 2,900 to 4,400 req/s. Pass None to leave the interval alone.

Once started, it also freezes the garbage collector's view of everything built so far
(`freeze_gc=True`: `gc.collect()` then `gc.freeze()`): the app, its config, pydantic models and
imported modules are never garbage, yet every full collection would walk them again. Under load
those walks were pauses of 15-25 ms that set the p99 of webhook ingestion; frozen, p99 fell to
5 ms and throughput rose by a tenth (`benchmarks/ingest.py`). Objects created later are collected
as usual. Pass False when the host process manages the collector itself.

With the worker, the service also runs the retention clean-up: every `[worker]
cleanup_interval_s` it deletes done jobs and processed or unhandled webhook events older than
`retention_s` (0 disables it). Only processes running a worker clean up, so a fleet of
`serve --no-worker` receivers never competes for the same deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from seawall.config import SeawallConfig
from seawall.jobs import Worker
from seawall.jobs.retention import run_retention
from seawall.observability.asgi import RequestContextMiddleware
from seawall.store import Store, open_store
from seawall.webhooks import Webhooks

__all__ = ["LifespanHook", "ServiceApp", "build_app", "start_retention", "stop_retention"]

LifespanHook = Callable[[Starlette], AbstractAsyncContextManager[None]]


def build_app(
    config: SeawallConfig,
    *,
    store: Store | None = None,
    with_worker: bool = True,
    extra_routes: Sequence[BaseRoute] = (),
    lifespan_hooks: Sequence[LifespanHook] = (),
    switch_interval_s: float | None = 0.0005,
    freeze_gc: bool = True,
) -> Starlette:
    """The service app: webhook endpoints from `config` plus `extra_routes`.

    The store is opened from `config.store.url` unless given (a given store is not closed on
    shutdown). On startup it is migrated when `config.store.migrate_on_start`; with `with_worker`
    a worker processes webhook jobs in this process until shutdown, and the retention clean-up
    runs beside it.
    """
    owns_store = store is None
    the_store = store if store is not None else open_store(config.store.url)
    webhooks = Webhooks.from_config(config, the_store)
    worker: Worker | None = None
    if with_worker:
        w = config.worker
        worker = Worker(
            the_store,
            queue=webhooks.queue,
            concurrency=w.concurrency,
            batch_size=w.batch_size,
            visibility_timeout=w.visibility_timeout_s,
            poll_interval=w.poll_interval_s,
        )
        webhooks.attach(worker)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if switch_interval_s is not None:
                stack.callback(sys.setswitchinterval, sys.getswitchinterval())
                sys.setswitchinterval(switch_interval_s)
            if owns_store:
                stack.push_async_callback(the_store.close)
            if config.store.migrate_on_start:
                await the_store.migrate()
            if worker is not None:
                stop = asyncio.Event()
                task = asyncio.create_task(worker.run(stop), name="seawall-worker")
                stack.push_async_callback(_stop_worker, stop, task)
                stack.push_async_callback(stop_retention, *start_retention(config, webhooks))
            for hook in lifespan_hooks:
                await stack.enter_async_context(hook(app))
            if freeze_gc:
                gc.collect()
                gc.freeze()
                stack.callback(gc.unfreeze)
            yield

    receivers = webhooks.receivers()
    app = ServiceApp(
        receivers, routes=[*webhooks.routes(receivers), *extra_routes], lifespan=lifespan
    )
    app.state.store = the_store
    app.state.webhooks = webhooks
    app.state.worker = worker
    app.state.config = config
    return app


class ServiceApp(Starlette):
    """The service's Starlette app; requests to a webhook path go straight to its receiver.

    A receiver answers every request it is given itself, its refusals and store errors included,
    so Starlette's error middleware, exception middleware and router add nothing on those paths
    but their cost: about 8 us of CPU a request, a tenth of ingestion throughput (measured with
    `benchmarks/ingest.py`). The direct path is taken only for an exact webhook path at the app's
    root while the app runs without debug, added middleware or exception handlers; every other
    request, and every request once any of those is configured, goes through Starlette as usual.
    """

    def __init__(self, receivers: Mapping[str, ASGIApp], **options: Any) -> None:
        super().__init__(**options)
        self._receivers = dict(receivers)
        self._with_context = RequestContextMiddleware(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection or request (see the class docstring for the direct path)."""
        if scope["type"] == "http" and not scope.get("root_path"):
            receiver = self._receivers.get(scope["path"])
            if receiver is not None and not (
                self.debug or self.user_middleware or self.exception_handlers
            ):
                scope["app"] = self
                await receiver(scope, receive, send)
                return
        await self._with_context(scope, receive, send)


async def _stop_worker(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await task


_RETENTION_GRACE_S = 5.0
"""How long shutdown waits for a clean-up batch in progress before cancelling it."""


def start_retention(
    config: SeawallConfig, webhooks: Webhooks
) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """Start the periodic clean-up of finished jobs and old webhook events ([worker] retention)."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_retention(
            {"jobs": webhooks.queue.cleanup, "webhook events": webhooks.cleanup},
            retention_s=config.worker.retention_s,
            interval_s=config.worker.cleanup_interval_s,
            stop=stop,
            clock=webhooks.store.clock,
        ),
        name="seawall-retention",
    )
    return stop, task


async def stop_retention(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Stop the clean-up task, cancelling a batch still running after a short grace period."""
    stop.set()
    done, _ = await asyncio.wait({task}, timeout=_RETENTION_GRACE_S)
    if not done:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
