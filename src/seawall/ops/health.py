"""`/healthz` (process answers), `/readyz` (database reachable, schema current), `/metrics`.

The routes read the store from `request.app.state.store` (set by `build_app`), so
they can be built before the app and mounted through `extra_routes`.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seawall.jobs.queue import Queue
from seawall.observability.metrics import CONTENT_TYPE, SeawallMetrics
from seawall.store import Store

__all__ = ["health_routes", "readiness"]

_log = logging.getLogger("seawall.ops.health")


async def readiness(store: Store, timeout_s: float = 2.0) -> tuple[bool, dict[str, object]]:
    """(ready, details): the database answers within `timeout_s` and its schema is current."""
    try:
        await asyncio.wait_for(store.ping(), timeout_s)
        have, known = await asyncio.wait_for(store.schema_status(), timeout_s)
    except TimeoutError:
        return False, {"status": "unavailable", "reason": f"database silent for {timeout_s:g} s"}
    except Exception as exc:  # any failure means not ready; say which
        return False, {"status": "unavailable", "reason": str(exc)}
    schema = {"have": have, "known": known}
    if have != known:
        reason = f"schema version {have}, this seawall needs {known}: run `seawall migrate`"
        return False, {"status": "unavailable", "reason": reason, "schema": schema}
    return True, {"status": "ready", "schema": schema}


def _queue(request: Request) -> Queue:
    webhooks = getattr(request.app.state, "webhooks", None)
    queue = getattr(webhooks, "queue", None)
    return queue if isinstance(queue, Queue) else Queue(request.app.state.store)


def health_routes(metrics: SeawallMetrics, *, timeout_s: float = 2.0) -> list[Route]:
    """The three probe routes; the store comes from the app's state at request time."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready, details = await readiness(request.app.state.store, timeout_s)
        return JSONResponse(details, status_code=200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        try:
            await asyncio.wait_for(metrics.refresh_queue(_queue(request).stats), timeout_s)
            metrics.store_up.set(1)
        except Exception as exc:  # keep serving the other metrics
            metrics.store_up.set(0)
            _log.warning("queue stats unavailable for /metrics: %s", exc)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
