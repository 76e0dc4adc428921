"""One synchronous PostgreSQL connection for a shared store: lazy, set up once, reconnecting."""

from __future__ import annotations

import math
import re
import threading
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["PgLink"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PgLink:
    """A psycopg 3 connection (autocommit) to `url`, opened on first use and after a loss.

    The tables are UNLOGGED and commits asynchronous: fleet state is soft, and a server crash
    that loses it leaves breakers CLOSED and buckets full, as a fresh start would. The first
    connection runs the idempotent setup files (`*.sql` beside `seawall.fleet`) under
    an advisory lock, so processes starting together do not race. A `schema` query parameter
    (`postgresql://host/db?schema=name`) puts the tables in that schema. `timeout_s` bounds each
    statement; libpq counts the connect timeout in whole seconds (at least 2), but a closed port
    or a refused connection fails at once.
    """

    def __init__(self, url: str, setup: tuple[str, ...], timeout_s: float) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "the shared stores on PostgreSQL need psycopg: pip install 'seawall[postgres]'"
            ) from exc
        self._psycopg = psycopg
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.schema = query.pop("schema", None)
        if self.schema is not None and not _IDENT.match(self.schema):
            raise ValueError(f"invalid schema name {self.schema!r}")
        self.conninfo = urlunsplit(parts._replace(query=urlencode(query)))
        self.setup = setup
        self.timeout_s = timeout_s
        self._conn: Any = None
        self._ready = False
        self._lock = threading.Lock()

    def rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows; a lost connection is reopened next time."""
        conn = self._connection()
        try:
            return list(conn.execute(query, params).fetchall())
        except Exception:
            if conn.broken or conn.closed:
                self.drop()
            raise

    def drop(self) -> None:
        """Close the connection (the next statement opens a new one)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> Any:
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            # Fleet state is soft (a lost row reads as CLOSED, a full bucket): commits need not
            # wait for the WAL flush while they hold the row lock the whole fleet queues on.
            options = (
                f"-c statement_timeout={max(1, int(self.timeout_s * 1000))}"
                " -c synchronous_commit=off"
            )
            if self.schema:
                options += f" -c search_path={self.schema}"
            conn = self._psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=max(2, math.ceil(self.timeout_s)),
                options=options,
            )
            try:
                if not self._ready:
                    self._set_up(conn)
                    self._ready = True
            except Exception:
                conn.close()
                raise
            self._conn = conn
            return conn

    def _set_up(self, conn: Any) -> None:
        folder = resources.files("seawall.fleet")
        with conn.transaction():
            conn.execute("SET LOCAL statement_timeout = 0")
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('seawall.fleet setup'))")
            if self.schema:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            for name in self.setup:
                conn.execute(folder.joinpath(name).read_text(encoding="utf-8"))
