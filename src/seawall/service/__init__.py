"""The ASGI service, assembled in one place: app, lifespan, wiring, settings.

`build_service(config)` is what `seawall serve` runs: `build_app` (webhook endpoints, store,
in-process worker and retention) plus the operator routes (`/healthz`, `/readyz`, `/metrics`,
`/dashboard`) and their lifespan hook. `load_settings` reads the TOML file with environment
overrides; `check_config` is `seawall config check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    from seawall.service.app import ServiceApp, build_app
    from seawall.service.assemble import build_service, operator_lifespan, operator_routes
    from seawall.service.embed import mount
    from seawall.service.problems import add_problem_handlers, exception_handlers, problem_response
    from seawall.service.settings import CheckReport, check_config, load_settings

__all__ = [
    "CheckReport",
    "ServiceApp",
    "add_problem_handlers",
    "build_app",
    "build_service",
    "check_config",
    "exception_handlers",
    "load_settings",
    "mount",
    "operator_lifespan",
    "operator_routes",
    "problem_response",
]

_HOMES = {
    "ServiceApp": "seawall.service.app",
    "build_app": "seawall.service.app",
    "build_service": "seawall.service.assemble",
    "operator_lifespan": "seawall.service.assemble",
    "operator_routes": "seawall.service.assemble",
    "mount": "seawall.service.embed",
    "add_problem_handlers": "seawall.service.problems",
    "exception_handlers": "seawall.service.problems",
    "problem_response": "seawall.service.problems",
    "CheckReport": "seawall.service.settings",
    "check_config": "seawall.service.settings",
    "load_settings": "seawall.service.settings",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
