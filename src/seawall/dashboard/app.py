"""The dashboard on its own (`seawall dashboard`): its pages over any store selection, AWS too."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from seawall.config import SeawallConfig
from seawall.dashboard.routes import dashboard_routes
from seawall.observability.metrics import SeawallMetrics
from seawall.ops.breakers import REGISTRY, BreakerRegistry
from seawall.ops.stores import open_operator

__all__ = ["dashboard_app"]


def dashboard_app(
    selection: str,
    token: str,
    *,
    config: SeawallConfig | None = None,
    metrics: SeawallMetrics | None = None,
    registry: BreakerRegistry = REGISTRY,
) -> Starlette:
    """An app serving only /dashboard over `selection` (a store URL or `aws`, as `--store`);
    the operator is opened at startup and closed at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_operator(selection, config=config, registry=registry) as operator:
            app.state.operator = operator
            yield

    routes = dashboard_routes(
        token, metrics=metrics if metrics is not None else SeawallMetrics(), registry=registry
    )
    return Starlette(routes=routes, lifespan=lifespan)
