"""`seawall dashboard`: the operator dashboard on its own, over a SQL store or the AWS stores."""

from __future__ import annotations

import os
from pathlib import Path

import click

from seawall.cli.common import config_option, load_cli_config, resolve_selection, store_option
from seawall.ops.stores import AWS

__all__ = ["register"]

TOKEN_ENV = "SEAWALL_DASHBOARD__TOKEN"


@click.command()
@config_option
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True)
def dashboard(config_path: Path | None, store_url: str | None, host: str, port: int) -> None:
    """Serve /dashboard alone (e.g. `--store aws` for a Lambda deployment); the admin token
    comes from SEAWALL_DASHBOARD__TOKEN or the configuration's [dashboard] token."""
    import uvicorn

    from seawall.dashboard.app import dashboard_app
    from seawall.service.settings import resolve_dashboard_token

    selection = resolve_selection(config_path, store_url)
    has_config = config_path is not None or Path("seawall.toml").is_file()
    config = load_cli_config(config_path) if has_config else None
    token = os.environ.get(TOKEN_ENV) or (resolve_dashboard_token(config) if config else None)
    if not token:
        raise click.UsageError(
            f"the dashboard needs an admin token: set {TOKEN_ENV} or [dashboard] token"
        )
    webhooks = config if selection.strip().lower() != AWS else None
    app = dashboard_app(selection, token, config=webhooks)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


def register(group: click.Group) -> None:
    """Add this command to the CLI."""
    group.add_command(dashboard)
