"""What a psycopg connection sends and hears, for tests that count round trips or warnings."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import pq


@contextlib.contextmanager
def traced(conn: Any) -> Iterator[list[str]]:
    """Record the round trips sent on `conn` inside the block (from libpq's own trace): each
    `Query` as its text and each `Sync` (the end of a parameter-bound statement) as "<sync>".
    The list is filled when the block exits."""
    sent: list[str] = []
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield sent
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            for line in trace.read().decode().splitlines():
                direction, _, kind, *rest = line.split("\t")
                if direction == "F" and kind == "Query":
                    sent.append(rest[0].strip()[1:-1])
                elif direction == "F" and kind == "Sync":
                    sent.append("<sync>")


@contextlib.contextmanager
def notices(conn: Any) -> Iterator[list[str]]:
    """The server's notices and warnings on `conn` while the block runs."""
    seen: list[str] = []

    def handler(diag: psycopg.errors.Diagnostic) -> None:
        seen.append(f"{diag.severity}: {diag.message_primary}")

    conn.add_notice_handler(handler)
    try:
        yield seen
    finally:
        conn.remove_notice_handler(handler)
