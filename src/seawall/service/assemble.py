"""Assembling the service `seawall serve` runs: webhooks and worker plus the operator surface.

    app = build_service(config)                                  # what `seawall serve` runs
    # or, with your own assembly:
    app = build_app(config, extra_routes=operator_routes(config),
                    lifespan_hooks=[operator_lifespan()])

`operator_routes` adds `/healthz`, `/readyz`, `/metrics` and (when `[dashboard] token` is set)
`/dashboard`. `operator_lifespan` wires the worker's events and the webhook counters into the
metrics, and publishes this process's circuit breakers to the store for `seawall breakers`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from seawall.config import SeawallConfig
from seawall.dashboard import dashboard_routes
from seawall.observability.metrics import SeawallMetrics, get_metrics
from seawall.ops.breakers import REGISTRY, BreakerRegistry, BreakerSync
from seawall.ops.health import health_routes
from seawall.service.app import build_app
from seawall.service.openapi import openapi_route
from seawall.service.settings import resolve_dashboard_token
from seawall.store import Store
from seawall.webhooks import WebhookEndpoint

__all__ = ["build_service", "operator_lifespan", "operator_routes"]


def operator_routes(
    config: SeawallConfig,
    *,
    metrics: SeawallMetrics | None = None,
    registry: BreakerRegistry = REGISTRY,
    dashboard_token: str | None = None,
) -> list[BaseRoute]:
    """Probe and metrics routes, and the dashboard when a token is configured (or given)."""
    the_metrics = metrics if metrics is not None else get_metrics()
    the_metrics.set_breaker_provider(registry.states)
    routes: list[BaseRoute] = list(health_routes(the_metrics))
    token = dashboard_token if dashboard_token is not None else resolve_dashboard_token(config)
    if token:
        routes.extend(dashboard_routes(token, metrics=the_metrics, registry=registry))
    return routes


def operator_lifespan(
    *,
    metrics: SeawallMetrics | None = None,
    registry: BreakerRegistry = REGISTRY,
    breaker_sync_s: float = 5.0,
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A `build_app` lifespan hook: metrics wiring and breaker publishing while the app runs."""
    the_metrics = metrics if metrics is not None else get_metrics()

    @contextlib.asynccontextmanager
    async def hook(app: Starlette) -> AsyncIterator[None]:
        webhooks = getattr(app.state, "webhooks", None)
        if webhooks is not None:
            the_metrics.add_webhook_stats(webhooks.stats)
        worker = getattr(app.state, "worker", None)
        if worker is not None and getattr(worker, "on_event", None) is None:
            worker.on_event = the_metrics.worker_event
        store: Store = app.state.store
        stop = asyncio.Event()
        sync = BreakerSync(store, registry, interval_s=breaker_sync_s)
        task = asyncio.create_task(sync.run(stop), name="seawall-breaker-sync")
        try:
            yield
        finally:
            stop.set()
            await task

    return hook


def build_service(
    config: SeawallConfig,
    *,
    store: Store | None = None,
    with_worker: bool = True,
    metrics: SeawallMetrics | None = None,
    registry: BreakerRegistry = REGISTRY,
    dashboard_token: str | None = None,
    breaker_sync_s: float = 5.0,
) -> Starlette:
    """The whole service: `build_app`, `/openapi.json`, the operator routes and lifespan hook."""
    endpoints = [WebhookEndpoint.from_config(entry) for entry in config.webhooks]
    return build_app(
        config,
        store=store,
        with_worker=with_worker,
        extra_routes=[
            openapi_route(endpoints),
            *operator_routes(
                config, metrics=metrics, registry=registry, dashboard_token=dashboard_token
            ),
        ],
        lifespan_hooks=[
            operator_lifespan(metrics=metrics, registry=registry, breaker_sync_s=breaker_sync_s)
        ],
    )
