"""The operator dashboard: server-rendered pages at /dashboard, off unless a token is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    from seawall.dashboard.routes import dashboard_routes

__all__ = ["dashboard_routes"]

_HOMES = {
    "dashboard_routes": "seawall.dashboard.routes",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
