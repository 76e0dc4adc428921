"""Webhook event commands: `events list|show|replay`."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from seawall.cli.common import config_option, emit, json_option, operate, store_option, when
from seawall.ops.operator import Operator

__all__ = ["register"]

STATUSES = ("received", "processing", "processed", "unhandled", "failed", "dead")


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


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    group.add_command(events)
