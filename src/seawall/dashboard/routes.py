"""Every dashboard route under /dashboard: the gate (`gate`), login (`login`), pages (`pages`)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from seawall.dashboard import pages
from seawall.dashboard.auth import LoginThrottle, SessionSigner
from seawall.dashboard.gate import Gate
from seawall.dashboard.login import login_endpoints, logout
from seawall.observability.metrics import SeawallMetrics
from seawall.ops.breakers import BreakerRegistry

__all__ = ["dashboard_routes"]


def dashboard_routes(
    token: str,
    *,
    metrics: SeawallMetrics,
    registry: BreakerRegistry,
    max_age_s: float = 12 * 3600,
    throttle: LoginThrottle | None = None,
) -> list[BaseRoute]:
    """Every dashboard route under /dashboard, guarded by `token`.

    Failed logins (wrong bearer tokens and wrong form tokens) are limited per client by
    `throttle` (default: 10 a minute, then 429 with Retry-After).
    """
    gate = Gate(
        SessionSigner(token, max_age_s=max_age_s),
        throttle if throttle is not None else LoginThrottle(),
        registry,
    )
    login_form, login = login_endpoints(gate, max_age_s)
    guarded, page, action = gate.guarded, gate.page, gate.action
    overview = pages.overview_page(metrics)
    return [
        Route("/dashboard/login", guarded(login_form), methods=["GET"]),
        Route("/dashboard/login", guarded(login), methods=["POST"]),
        Route("/dashboard/logout", action(logout), methods=["POST"]),
        Route("/dashboard", page(overview), methods=["GET"]),
        Route("/dashboard/events", page(pages.events), methods=["GET"]),
        # Event ids may hold "/" (quoted as %2F in links, decoded before routing): `path`.
        Route(
            "/dashboard/events/{source}/{event_id:path}/replay",
            action(pages.event_replay),
            methods=["POST"],
        ),
        Route(
            "/dashboard/events/{source}/{event_id:path}", page(pages.event_detail), methods=["GET"]
        ),
        Route("/dashboard/dlq", page(pages.dlq), methods=["GET"]),
        Route("/dashboard/dlq/redrive", action(pages.dlq_redrive), methods=["POST"]),
        Route("/dashboard/dlq/purge", action(pages.dlq_purge), methods=["POST"]),
        Route("/dashboard/jobs/{job_id:path}", page(pages.job_detail), methods=["GET"]),
    ]
