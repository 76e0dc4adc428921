"""The operator dashboard: server-rendered pages at /dashboard, off unless a token is configured."""

from __future__ import annotations

from seawall.dashboard.routes import dashboard_routes

__all__ = ["dashboard_routes"]
