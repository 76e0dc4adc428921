"""`breakers list|reset`: circuit breakers every running process published to the store."""

from __future__ import annotations

from pathlib import Path

import click

from seawall.cli.common import config_option, emit, json_option, operate, store_option, when
from seawall.ops.breakers import BreakerInfo, request_reset
from seawall.ops.operator import Operator

__all__ = ["register"]


@click.group()
def breakers() -> None:
    """Circuit breakers of the running services (each publishes its state every few seconds)."""


@breakers.command("list")
@config_option
@store_option
@json_option
def breakers_list(config_path: Path | None, store_url: str | None, as_json: bool) -> None:
    """Every breaker, per process, with its state and last report time; a breaker shared by a
    fleet store also has one row for the whole fleet (process `fleet:<namespace>`)."""

    async def action(op: Operator) -> list[BreakerInfo]:
        return await op.breakers()

    found = operate(config_path, store_url, action)
    emit(
        as_json,
        found,
        title="Circuit breakers",
        columns=["name", "state", "failures", "process", "reported", "reset pending"],
        rows=(
            [
                b.name,
                b.state,
                b.failures,
                b.instance,
                when(b.updated_at),
                "yes" if b.reset_pending else "",
            ]
            for b in found
        ),
        empty="no breakers reported (services publish theirs while `seawall serve` runs)",
    )


@breakers.command("reset")
@config_option
@store_option
@json_option
@click.argument("name", required=False)
@click.option("--all", "all_", is_flag=True, help="Reset every breaker.")
def breakers_reset(
    config_path: Path | None, store_url: str | None, as_json: bool, name: str | None, all_: bool
) -> None:
    """Ask the processes owning breaker NAME (or --all) to close it at their next sync; a
    breaker shared by a fleet store is closed fleet-wide through that store."""
    if bool(name) == all_:
        raise click.UsageError("give a breaker NAME or --all")

    async def action(op: Operator) -> int:
        return await request_reset(op.store, None if all_ else name)

    marked = operate(config_path, store_url, action)
    if marked == 0:
        emit(as_json, {"requested": 0}, text="")
        raise click.ClickException(
            f"no breaker named {name!r} was reported; see `seawall breakers list`"
        )
    emit(
        as_json,
        {"requested": marked},
        text=f"reset requested for {marked} breaker(s); running services apply it within "
        "one sync interval (5 s by default)",
    )


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    group.add_command(breakers)
