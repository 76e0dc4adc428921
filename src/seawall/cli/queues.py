"""Queue commands: `jobs stats|cleanup` and `dlq list|show|redrive|purge`."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import click

from seawall.cli.common import (
    Duration,
    age,
    config_option,
    emit,
    json_option,
    operate,
    store_option,
    to_jsonable,
    when,
)
from seawall.jobs.model import DeadLetter, QueueStats
from seawall.ops.operator import Operator
from seawall.webhooks.inbox import StoredEvent

__all__ = ["register"]


@click.group()
def jobs() -> None:
    """Inspect job queues."""


@jobs.command("stats")
@config_option
@store_option
@json_option
def jobs_stats(config_path: Path | None, store_url: str | None, as_json: bool) -> None:
    """Depth, in flight, delayed, done, dead and oldest ready age per queue."""

    async def action(op: Operator) -> list[QueueStats]:
        return await op.queue.stats()

    stats = operate(config_path, store_url, action)
    emit(
        as_json,
        stats,
        title="Queues",
        columns=["queue", "ready", "in flight", "delayed", "done", "dead", "oldest ready"],
        rows=(
            [s.queue, s.ready, s.in_flight, s.delayed, s.done, s.dead, age(s.oldest_ready_age_s)]
            for s in stats
        ),
        empty="no jobs in any queue",
    )


@jobs.command("cleanup")
@config_option
@store_option
@json_option
@click.option(
    "--older-than",
    "older_than_s",
    type=Duration(),
    required=True,
    metavar="DURATION",
    help="Delete done jobs that finished more than this long ago (3600, 30m, 12h, 7d).",
)
def jobs_cleanup(
    config_path: Path | None, store_url: str | None, as_json: bool, older_than_s: float
) -> None:
    """Delete finished (done) jobs; ready, in-flight, delayed and dead jobs stay."""
    if not math.isfinite(older_than_s):
        raise click.BadParameter("give a finite number of seconds", param_hint="--older-than")

    async def action(op: Operator) -> int:
        return await op.cleanup_jobs(older_than_s)

    deleted = operate(config_path, store_url, action)
    emit(
        as_json,
        {"deleted": deleted, "older_than_s": older_than_s},
        text=f"deleted {deleted} done job(s) finished more than {older_than_s:g} s "
        f"({age(older_than_s)}) ago",
    )


@click.group()
def dlq() -> None:
    """List, inspect, redrive and purge dead letters."""


@dlq.command("list")
@config_option
@store_option
@json_option
@click.option("--queue", "queue_name", default=None, help="Only this queue.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
def dlq_list(
    config_path: Path | None,
    store_url: str | None,
    as_json: bool,
    queue_name: str | None,
    limit: int,
    offset: int,
) -> None:
    """Everything given up on, newest first: dead jobs and dead webhook events (one view)."""

    async def action(op: Operator) -> tuple[list[DeadLetter], list[StoredEvent]]:
        jobs = await op.dead_letters(queue_name, limit=limit, offset=offset)
        events = [] if queue_name else await op.events(status="dead", limit=limit, offset=offset)
        return jobs, events

    dead, events = operate(config_path, store_url, action)
    rows = [
        [
            d.id,
            d.queue,
            f"{d.receives}/{d.max_receives}",
            when(d.dead_at),
            d.reason,
            (d.errors[-1].get("error") or "") if d.errors else "",
        ]
        for d in dead
    ] + [
        [
            f"{e.source}/{e.event_id}",
            f"webhook {e.source}",
            str(e.attempts),
            when(e.processed_at),
            "webhook processing gave up (replay: seawall events replay SOURCE ID)",
            e.last_error or "",
        ]
        for e in events
    ]
    listed: list[object] = [*dead]
    listed += [
        {"kind": "webhook_event", **to_jsonable(dataclasses.replace(e, body=None))} for e in events
    ]
    emit(
        as_json,
        listed,
        title="Dead letters (jobs and webhook events)",
        columns=["id", "queue", "receives", "dead since", "reason", "last error"],
        rows=rows,
        empty="the dead-letter queue is empty (no dead jobs, no dead webhook events)",
    )


@dlq.command("show")
@config_option
@store_option
@json_option
@click.argument("job_id")
def dlq_show(config_path: Path | None, store_url: str | None, as_json: bool, job_id: str) -> None:
    """One dead letter: payload and full error history."""

    async def action(op: Operator) -> DeadLetter:
        return await op.dead_letter(job_id)

    d = operate(config_path, store_url, action)
    import json

    lines = [
        f"job {d.id} in queue {d.queue}",
        f"receives {d.receives}/{d.max_receives}, dead since {when(d.dead_at)}: {d.reason}",
        "payload:",
        json.dumps(d.payload, indent=2, sort_keys=True),
        f"errors ({len(d.errors)}):",
    ]
    for err in d.errors:
        lines.append(f"  [{when(err.get('at'))}] {err.get('error') or ''}")
        if err.get("traceback"):
            lines.extend("      " + t for t in str(err["traceback"]).splitlines())
    emit(as_json, d, text="\n".join(lines))


def _targets(ids: tuple[str, ...], all_: bool, queue_name: str | None) -> list[str] | None:
    if ids and all_:
        raise click.UsageError("give job ids or --all, not both")
    if not ids and not all_:
        raise click.UsageError("give one or more job ids, or --all (optionally with --queue)")
    if ids and queue_name:
        raise click.UsageError("--queue selects with --all; job ids already name their jobs")
    return list(ids) if ids else None


@dlq.command("redrive")
@config_option
@store_option
@json_option
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every dead letter (of --queue).")
@click.option("--queue", "queue_name", default=None)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="At most this many jobs become ready per second.",
)
def dlq_redrive(
    config_path: Path | None,
    store_url: str | None,
    as_json: bool,
    ids: tuple[str, ...],
    all_: bool,
    queue_name: str | None,
    rate: float | None,
) -> None:
    """Send dead letters back to their queue with a fresh receive count."""
    targets = _targets(ids, all_, queue_name)

    async def action(op: Operator) -> int:
        return await op.redrive(targets, queue_name=queue_name, rate_per_s=rate)

    moved = operate(config_path, store_url, action)
    missing = len(targets) - moved if targets is not None else 0
    emit(
        as_json,
        {"redriven": moved, "not_found": missing},
        text=f"redrove {moved} job(s)" + (f"; {missing} id(s) not in the DLQ" if missing else ""),
    )
    if targets is not None and moved == 0:
        raise click.exceptions.Exit(1)


@dlq.command("purge")
@config_option
@store_option
@json_option
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every dead letter (of --queue).")
@click.option("--queue", "queue_name", default=None)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dlq_purge(
    config_path: Path | None,
    store_url: str | None,
    as_json: bool,
    ids: tuple[str, ...],
    all_: bool,
    queue_name: str | None,
    yes: bool,
) -> None:
    """Delete dead letters for good."""
    targets = _targets(ids, all_, queue_name)
    if targets is None and not yes:
        scope = f"queue {queue_name}" if queue_name else "every queue"
        click.confirm(f"delete every dead letter of {scope}?", abort=True, err=True)

    async def action(op: Operator) -> int:
        return await op.purge(targets, queue_name=queue_name)

    deleted = operate(config_path, store_url, action)
    emit(as_json, {"purged": deleted}, text=f"purged {deleted} job(s)")
    if targets is not None and deleted == 0:
        raise click.exceptions.Exit(1)


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    group.add_command(jobs)
    group.add_command(dlq)
