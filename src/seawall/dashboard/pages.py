"""The dashboard's pages and actions: overview, events (filter, detail, replay), dead letters, jobs.

Data comes from the shared stores through `Operator` (SQL, or the AWS stores), so any `serve`
process, or `seawall dashboard`, shows the same queues and events; recent outbound calls are this
process's own.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from seawall.dashboard import html as h
from seawall.dashboard.auth import Session
from seawall.dashboard.data import ingest_rate, throughput
from seawall.dashboard.gate import Page, back, query_offset
from seawall.http.redact import redact_headers
from seawall.observability.metrics import SeawallMetrics
from seawall.ops.errors import NotFoundError, OperatorError
from seawall.ops.operator import Operator
from seawall.webhooks.events import STATUSES

__all__ = [
    "dlq",
    "dlq_purge",
    "dlq_redrive",
    "event_detail",
    "event_replay",
    "events",
    "job_detail",
    "overview_page",
]

PAGE_SIZE = 50


def overview_page(metrics: SeawallMetrics) -> Page:
    """The overview page, showing this process's recent outbound calls from `metrics`."""

    async def overview(request: Request, session: Session, op: Operator) -> Response:
        """Cards, throughput chart, queues, breakers and recent outbound calls."""
        ov = await op.overview()
        store = op.sql_store
        rate = f"{await ingest_rate(store):.2f}/s" if store is not None else "see CloudWatch"
        chart = (
            h.chart(await throughput(store))
            if store is not None
            else "<p>Per-minute figures come from the SQL inbox; on AWS see the queue's and "
            "the functions' CloudWatch metrics.</p>"
        )
        cards = "".join(
            f'<div class="card" data-metric="{key}">{h.e(label)}<b>{h.e(value)}</b></div>'
            for key, label, value in (
                ("ingest", "Ingest rate (5 min)", rate),
                ("depth", "Queue depth", ov.ready + ov.delayed + ov.in_flight),
                ("in_flight", "In flight", ov.in_flight),
                ("dlq", "Dead letters", ov.dead),
            )
        )
        queues = h.table(
            ["Queue", "Ready", "In flight", "Delayed", "Done", "Dead", "Oldest ready"],
            (
                [
                    h.e(q.queue),
                    str(q.ready),
                    str(q.in_flight),
                    str(q.delayed),
                    str(q.done),
                    f'<a href="{h.url("dlq", queue=q.queue)}">{q.dead}</a>',
                    "" if q.oldest_ready_age_s is None else f"{q.oldest_ready_age_s:.0f} s",
                ]
                for q in ov.queues
            ),
            empty="No jobs yet.",
        )
        breakers = h.table(
            ["Breaker", "State", "Failures", "Process"],
            (
                [
                    h.e(b.name),
                    f'<span class="state-{h.e(b.state)}">{h.e(b.state)}</span>',
                    str(b.failures),
                    h.e(b.instance),
                ]
                for b in ov.breakers
            ),
            empty="No circuit breakers registered.",
        )
        calls = h.table(
            ["Time", "Call", "Status", "Outcome", "Duration", "Attempts"],
            (
                [
                    h.fmt_time(c.at),
                    h.e(f"{c.method} {c.host}{c.path}"),
                    h.e(c.status or "-"),
                    h.e(c.outcome),
                    f"{c.duration_ms:.0f} ms",
                    str(c.attempts),
                ]
                for c in metrics.recent_calls.newest_first()
            ),
            empty="No outbound calls from this process yet.",
        )
        body = (
            f'<div class="cards">{cards}</div><h2>Throughput and errors</h2>{chart}'
            f"<h2>Queues</h2>{queues}<h2>Circuit breakers</h2>{breakers}"
            f"<h2>Recent outbound calls (this process)</h2>{calls}"
        )
        flash = request.query_params.get("flash")
        return HTMLResponse(
            h.layout("Overview", body, csrf=session.csrf, active="overview", flash=flash)
        )

    return overview


async def events(request: Request, session: Session, op: Operator) -> Response:
    """The events listing, filtered by source, type and status, newest first."""
    q = request.query_params
    source, type_, status = (
        q.get("source") or None,
        q.get("type") or None,
        q.get("status") or None,
    )
    offset = query_offset(q.get("offset"), 0)
    found = await op.events(
        source=source, type=type_, status=status, limit=PAGE_SIZE + 1, offset=offset
    )
    more, found = len(found) > PAGE_SIZE, found[:PAGE_SIZE]
    options = "".join(
        f'<option value="{s}"{" selected" if s == status else ""}>{s}</option>'
        for s in ("", *STATUSES)
    )
    filters = (
        '<form method="get" action="/dashboard/events">'
        f'<label>Source <input name="source" value="{h.e(source)}"></label> '
        f'<label>Type <input name="type" value="{h.e(type_)}"></label> '
        f'<label>Status <select name="status">{options}</select></label> '
        '<button type="submit">Filter</button></form>'
    )
    rows = (
        [
            f'<a href="{h.url("events", ev.source, ev.event_id)}">{h.e(ev.event_id)}</a>',
            h.e(ev.source),
            h.e(ev.event_type),
            f"<span data-status>{h.e(ev.status)}</span>",
            str(ev.attempts),
            h.fmt_time(ev.received_at),
            h.e(ev.last_error or ""),
        ]
        for ev in found
    )
    listing = h.table(
        ["Event", "Source", "Type", "Status", "Attempts", "Received", "Error"],
        rows,
        empty="No events match.",
    )
    pager = ""
    if offset:
        prev = h.url(
            "events",
            source=source,
            type=type_,
            status=status,
            offset=max(0, offset - PAGE_SIZE),
        )
        pager += f'<a href="{prev}">← newer</a> '
    if more:
        nxt = h.url("events", source=source, type=type_, status=status, offset=offset + PAGE_SIZE)
        pager += f'<a href="{nxt}">older →</a>'
    return HTMLResponse(
        h.layout(
            "Events",
            filters + listing + pager,
            csrf=session.csrf,
            active="events",
            flash=q.get("flash"),
        )
    )


async def event_detail(request: Request, session: Session, op: Operator) -> Response:
    """One stored event: facts, headers (secrets removed), body, errors and Replay."""
    source, event_id = request.path_params["source"], request.path_params["event_id"]
    ev = await op.event(source, event_id)
    job = await op.job(ev.job_id) if ev.job_id else None
    body_text = ev.body.decode("utf-8", "replace") if ev.body is not None else ""
    with contextlib.suppress(ValueError):
        body_text = json.dumps(json.loads(body_text), indent=2, ensure_ascii=False)
    facts = h.table(
        ["Source", "Event", "Type", "Status", "Attempts", "Received", "Processed", "Job"],
        [
            [
                h.e(ev.source),
                h.e(ev.event_id),
                h.e(ev.event_type),
                f"<span data-status>{h.e(ev.status)}</span>",
                str(ev.attempts),
                h.fmt_time(ev.received_at),
                h.fmt_time(ev.processed_at),
                f'<a href="{h.url("jobs", ev.job_id)}">{h.e(ev.job_id)}</a>' if ev.job_id else "",
            ]
        ],
        empty="",
    )
    headers = h.table(
        ["Header", "Value"],
        ([h.e(k), h.e(v)] for k, v in sorted(redact_headers(ev.headers).items())),
        empty="No headers kept.",
    )
    errors = _errors(job.errors if job is not None else [], ev.last_error)
    replay = h.form_button(
        h.url("events", source, event_id, "replay"),
        "Replay",
        csrf=session.csrf,
        confirm="Process this event again?",
        name="replay",
    )
    content = (
        f"{facts}{replay}<h2>Headers (secrets removed)</h2>{headers}"
        f"<h2>Body</h2><pre>{h.e(body_text)}</pre><h2>Errors</h2>{errors}"
    )
    return HTMLResponse(
        h.layout(
            f"Event {event_id}",
            content,
            csrf=session.csrf,
            active="events",
            flash=request.query_params.get("flash"),
        )
    )


async def event_replay(request: Request, session: Session, op: Operator) -> Response:
    """Replay one stored event (a new processing job) and go back to it."""
    source, event_id = request.path_params["source"], request.path_params["event_id"]
    job_id = await op.replay(source, event_id)
    return back(h.url("events", source, event_id), f"Replayed: new job {job_id}")


# -- dead letters and jobs ------------------------------------------------------------------


async def dlq(request: Request, session: Session, op: Operator) -> Response:
    """The dead-letter queue, filtered by queue, with redrive and purge buttons."""
    q = request.query_params
    queue = q.get("queue") or None
    offset = query_offset(q.get("offset"), 0)
    dead = await op.dead_letters(queue, limit=PAGE_SIZE + 1, offset=offset)
    more, dead = len(dead) > PAGE_SIZE, dead[:PAGE_SIZE]
    fields = {"queue": queue} if queue else {}
    bulk = (
        (
            h.form_button(
                "/dashboard/dlq/redrive",
                "Redrive all",
                csrf=session.csrf,
                fields={**fields, "all": "1"},
                confirm="Redrive every dead letter shown by this filter?",
                name="redrive-all",
            )
            + " "
            + h.form_button(
                "/dashboard/dlq/purge",
                "Purge all",
                csrf=session.csrf,
                fields={**fields, "all": "1"},
                confirm="Delete every dead letter shown by this filter for good?",
                name="purge-all",
            )
        )
        if dead
        else ""
    )
    rows = (
        [
            f'<a href="{h.url("jobs", d.id)}">{h.e(d.id)}</a>',
            h.e(d.queue),
            f"{d.receives}/{d.max_receives}",
            h.fmt_time(d.dead_at),
            h.e(d.reason),
            h.e((d.errors[-1].get("error") if d.errors else "") or ""),
            h.form_button(
                "/dashboard/dlq/redrive",
                "Redrive",
                csrf=session.csrf,
                fields={"id": d.id},
                name=f"redrive-{d.id}",
            )
            + " "
            + h.form_button(
                "/dashboard/dlq/purge",
                "Purge",
                csrf=session.csrf,
                fields={"id": d.id},
                confirm=f"Delete job {d.id} for good?",
                name=f"purge-{d.id}",
            ),
        ]
        for d in dead
    )
    filt = (
        '<form method="get" action="/dashboard/dlq">'
        f'<label>Queue <input name="queue" value="{h.e(queue)}"></label> '
        '<button type="submit">Filter</button></form>'
    )
    listing = h.table(
        ["Job", "Queue", "Receives", "Dead since", "Reason", "Last error", ""],
        rows,
        empty="The dead-letter queue is empty.",
    )
    pager = ""
    if more:
        pager = f'<a href="{h.url("dlq", queue=queue, offset=offset + PAGE_SIZE)}">more →</a>'
    note = (
        '<p>Webhook events that used up their attempts are marked <a href="'
        + h.url("events", status="dead")
        + '">dead in Events</a>; replay them there.</p>'
    )
    return HTMLResponse(
        h.layout(
            "Dead letters",
            filt + bulk + listing + pager + note,
            csrf=session.csrf,
            active="dlq",
            flash=q.get("flash"),
        )
    )


def _targets(request: Request) -> tuple[list[str] | None, str | None]:
    form = request.state.form
    ids = [v for v in form.getlist("id") if isinstance(v, str) and v]
    queue = form.get("queue") or None
    if not ids and form.get("all") != "1":
        raise OperatorError("choose a dead letter, or use the 'all' button")
    return (ids or None), (queue if isinstance(queue, str) else None)


async def dlq_redrive(request: Request, session: Session, op: Operator) -> Response:
    """Redrive the chosen dead letters (or all under the filter)."""
    ids, queue = _targets(request)
    moved = await op.redrive(ids, queue_name=queue)
    return back(h.url("dlq", queue=queue), f"Redrove {moved} job(s)")


async def dlq_purge(request: Request, session: Session, op: Operator) -> Response:
    """Purge the chosen dead letters (or all under the filter) for good."""
    ids, queue = _targets(request)
    deleted = await op.purge(ids, queue_name=queue)
    return back(h.url("dlq", queue=queue), f"Purged {deleted} job(s)")


async def job_detail(request: Request, session: Session, op: Operator) -> Response:
    """One job: facts, payload and error history (Redrive when dead)."""
    job_id = request.path_params["job_id"]
    job = await op.job(job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} was not found (finished jobs are cleaned up)")
    facts = h.table(
        ["Job", "Queue", "State", "Receives", "Enqueued", "Finished"],
        [
            [
                h.e(job.id),
                h.e(job.queue),
                f"<span data-job-state>{h.e(job.state)}</span>",
                f"{job.receives}/{job.max_receives}",
                h.fmt_time(job.enqueued_at),
                h.fmt_time(job.finished_at),
            ]
        ],
        empty="",
    )
    buttons = ""
    if job.state == "dead":
        buttons = h.form_button(
            "/dashboard/dlq/redrive",
            "Redrive",
            csrf=session.csrf,
            fields={"id": job.id},
            name=f"redrive-{job.id}",
        )
    content = (
        f"{facts}{buttons}<h2>Payload</h2>{_pre(job.payload)}"
        f"<h2>Errors</h2>{_errors(job.errors, None)}"
    )
    return HTMLResponse(
        h.layout(
            f"Job {job.id}",
            content,
            csrf=session.csrf,
            active="dlq",
            flash=request.query_params.get("flash"),
        )
    )


def _pre(value: Any) -> str:
    return f"<pre>{h.e(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def _errors(errors: list[dict[str, Any]], last_error: str | None) -> str:
    rows = [
        [
            h.fmt_time(err.get("at")),
            h.e(err.get("error") or ""),
            f"<pre>{h.e(err.get('traceback'))}</pre>" if err.get("traceback") else "",
        ]
        for err in reversed(errors)
    ]
    if not rows and last_error:
        rows = [["", h.e(last_error), ""]]
    return h.table(["When", "Error", "Traceback"], rows, empty="No errors recorded.")
