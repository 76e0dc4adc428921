"""The `seawall` command line: one module per command group; `main` is the console script."""

from __future__ import annotations

import logging

import click

from seawall.cli import breakers, dashboard, events, queues, service, signing
from seawall.cli.common import SeawallGroup

__all__ = ["cli", "main"]


@click.group(cls=SeawallGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seawall")
def cli() -> None:
    """seawall: resilient calls, durable webhooks, queues, and the tools to operate them."""
    # The connection pool logs every failed attempt; the command reports the outcome once.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)


for _module in (service, queues, events, breakers, signing, dashboard):
    _module.register(cli)


def main() -> None:
    """Run the CLI (the `seawall` console script)."""
    cli(prog_name="seawall")
