"""Webhook event commands: `events list|show|replay|cleanup`."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from seawall.cli.common import (
    Duration,
    age,
    config_option,
    emit,
    json_option,
    load_cli_config,
    operate,
    store_option,
    when,
)
from seawall.ops.operator import Operator
from seawall.webhooks.events import STATUSES
from seawall.webhooks.inbox import PURGEABLE_STATUSES, check_retention, purge_events

__all__ = ["register"]


@click.group()
def events() -> None:
    """List, show and replay stored webhook events."""


@events.command("list")
@config_option
@store_option
@json_option
@click.option("--source", default=None)
@click.option("--type", "type_", default=None, help="Event type, e.g. payment.completed.")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
def events_list(
    config_path: Path | None,
    store_url: str | None,
    as_json: bool,
    source: str | None,
    type_: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> None:
    """Stored events, newest first."""

    async def action(op: Operator) -> list[Any]:
        return await op.events(source=source, type=type_, status=status, limit=limit, offset=offset)

    found = operate(config_path, store_url, action)
    emit(
        as_json,
        found,
        title="Events",
        columns=["source", "event id", "type", "status", "attempts", "received", "last error"],
        rows=(
            [
                e.source,
                e.event_id,
                e.event_type,
                e.status,
                e.attempts,
                when(e.received_at),
                e.last_error or "",
            ]
            for e in found
        ),
        empty="no events match",
    )


@events.command("show")
@config_option
@store_option
@json_option
@click.argument("source")
@click.argument("event_id")
def events_show(
    config_path: Path | None, store_url: str | None, as_json: bool, source: str, event_id: str
) -> None:
    """One event: status, headers (secrets removed) and body."""

    async def action(op: Operator) -> Any:
        return await op.event(source, event_id)

    ev = operate(config_path, store_url, action)
    body = ev.body.decode("utf-8", "replace") if ev.body is not None else ""
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    lines = [
        f"{ev.source} / {ev.event_id}  type={ev.event_type}  status={ev.status}  "
        f"attempts={ev.attempts}",
        f"received {when(ev.received_at)}  processed {when(ev.processed_at) or '-'}  "
        f"job {ev.job_id or '-'}",
    ]
    if ev.last_error:
        lines.append(f"last error: {ev.last_error}")
    lines.append("headers:")
    lines.extend(f"  {k}: {v}" for k, v in sorted(ev.headers.items()))
    lines += ["body:", body]
    emit(as_json, ev, text="\n".join(lines))


@events.command("replay")
@config_option
@store_option
@json_option
@click.argument("source")
@click.argument("event_id")
def events_replay(
    config_path: Path | None, store_url: str | None, as_json: bool, source: str, event_id: str
) -> None:
    """Process a stored event again (a new job; needs --config with the webhook endpoints)."""

    async def action(op: Operator) -> Any:
        return await op.replay(source, event_id)

    job_id = operate(config_path, store_url, action, with_webhooks=True)
    emit(
        as_json,
        {"source": source, "event_id": event_id, "job_id": job_id},
        text=f"replaying {source}/{event_id} as job {job_id}",
    )


@events.command("cleanup")
@config_option
@store_option
@json_option
@click.option(
    "--older-than",
    "older_than_s",
    type=Duration(),
    required=True,
    metavar="DURATION",
    help="Delete processed and unhandled events received longer ago than this (30m, 12h, 7d).",
)
def events_cleanup(
    config_path: Path | None, store_url: str | None, as_json: bool, older_than_s: float
) -> None:
    """Delete old processed and unhandled events (needs --config: the endpoints' tolerance_s
    sets the shortest safe age, twice the longest window). Other statuses stay."""
    if config_path is None and not Path("seawall.toml").is_file():
        raise click.UsageError(
            "pass --config seawall.toml: the webhook endpoints' tolerance_s decides how long "
            "event ids must be kept to stop replays"
        )
    config = load_cli_config(config_path)
    try:
        check_retention(older_than_s, (w.tolerance_s for w in config.webhooks))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None

    async def action(op: Operator) -> int:
        return await purge_events(op.store, older_than_s=older_than_s)

    deleted = operate(config_path, store_url, action)
    emit(
        as_json,
        {"deleted": deleted, "older_than_s": older_than_s, "statuses": list(PURGEABLE_STATUSES)},
        text=f"deleted {deleted} processed or unhandled event(s) received more than "
        f"{older_than_s:g} s ({age(older_than_s)}) ago",
    )


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    group.add_command(events)
