"""The scale-out engine: PostgreSQL through psycopg 3 (async) with a connection pool.

SQL is written once with `?` placeholders; this module turns them into psycopg's `%s`.
A `schema` query parameter in the URL (`postgresql://host/db?schema=name`) puts every table in
that schema, which keeps tenants or test runs apart in one database.

Pooled connections run in autocommit mode and each transaction manages itself (`_PgTx`): its
BEGIN travels with its first statement and its NOTIFYs with its COMMIT, so a transaction of one
statement costs two round trips instead of three, and one that runs nothing costs none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.store.base import Engine, Params, Row, Statement, StoreUnavailableError
from seawall.store.migrator import load_migrations
from seawall.store.schema import apply_migrations, current_version

try:
    import psycopg
    from psycopg import sql as pgsql
    from psycopg.pq import TransactionStatus
    from psycopg.rows import dict_row
    from psycopg.types.numeric import FloatDumper
    from psycopg_pool import AsyncConnectionPool

    _IDLE, _INTRANS, _INERROR = (
        TransactionStatus.IDLE,
        TransactionStatus.INTRANS,
        TransactionStatus.INERROR,
    )

    class _Float8LiteralDumper(FloatDumper):
        """Quotes a float as a float8 literal (`'-0.0'::float8`) for client-side binding:
        psycopg's own bare literal is NUMERIC to the server (-0.0 loses its sign, and a
        float read back through `SELECT ?` comes back a Decimal)."""

        def quote(self, obj: Any) -> bytes:
            return b"'" + bytes(self.dump(obj) or b"") + b"'::float8"

except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]

__all__ = ["PostgresStore", "to_pg_sql"]

log = logging.getLogger("seawall.store.postgres")

LISTENER_APPLICATION_NAME = "seawall-listen"
"""The application_name of the connection that LISTENs, so operators can tell it apart."""

_SQL_CACHE: dict[str, str] = {}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_MIGRATION_LOCK = 0x5EA3A11


def to_pg_sql(sql: str) -> str:
    """Translate `?` placeholders to `%s` (and escape literal `%`), cached per statement."""
    cached = _SQL_CACHE.get(sql)
    if cached is None:
        cached = sql.replace("%", "%%").replace("?", "%s")
        _SQL_CACHE[sql] = cached
    return cached


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class _PgTx:
    """A transaction on one pooled connection (in autocommit mode: the transaction is ours).

    Its BEGIN is not sent alone: it travels with the first statement, in one round trip (that
    statement's parameters are then bound client-side; psycopg quotes them). A transaction
    that runs no statement costs no round trip at all."""

    __slots__ = ("_conn", "begun", "notifications")

    engine: Engine = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.begun = False
        self.notifications: set[str] = set()

    async def _run(self, sql: str, params: Params) -> Any:
        """Run one statement (with the BEGIN if it is the first); return its cursor."""
        if self.begun:
            return await self._conn.execute(to_pg_sql(sql), params)
        return await self._joined(("BEGIN",), sql, params, ())

    async def _joined(
        self, leads: Sequence[str], sql: str, params: Params, riders: Sequence[Statement]
    ) -> Any:
        """Send `leads` (statements without parameters), `sql` and `riders` as one query; return
        the cursor on `sql`'s result. A BEGIN is added in front if none was sent yet."""
        binder = psycopg.AsyncClientCursor(self._conn)
        # Bound before anything is sent: parameters that do not fit raise here, having begun
        # nothing, and the transaction goes on whole.
        bound = [binder.mogrify(to_pg_sql(sql), tuple(params))]
        bound += [binder.mogrify(to_pg_sql(text), tuple(values)) for text, values in riders]
        if self.begun:
            cur = await self._conn.execute("; ".join([*leads, *bound]))
        else:
            leads = ("BEGIN", *leads) if leads[:1] != ("BEGIN",) else leads
            cur = await self._begin_with("; ".join([*leads, *bound]))
        for _ in leads:
            cur.nextset()
        return cur

    async def _begin_with(self, query: str) -> Any:
        """Send `query`, which starts with BEGIN; afterwards `begun` tells whether the server
        opened the transaction (a query refused whole, e.g. for its syntax, began nothing)."""
        try:
            return await self._conn.execute(query)
        finally:
            self.begun = self._conn.info.transaction_status != _IDLE

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the rows it changed."""
        cur = await self._run(sql, params)
        return int(cur.rowcount)

    async def execute_joined(
        self, lead: str, sql: str, params: Params = (), riders: Sequence[Statement] = ()
    ) -> int:
        """Run `lead` (a statement without parameters), then `sql`, then each of `riders`, in
        one round trip; return the rows `sql` changed. The parameters are bound client-side
        (psycopg quotes them); if any statement fails, the ones after it do not run."""
        cur = await self._joined((lead,), sql, params, riders)
        return int(cur.rowcount)

    async def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> int:
        """Run one statement per parameter tuple (pipelined)."""
        if not self.begun:
            await self._begin_with("BEGIN")
        async with self._conn.cursor() as cur:
            await cur.executemany(to_pg_sql(sql), list(seq_of_params))
            return int(cur.rowcount)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Return the first row as a dict, or None."""
        cur = await self._run(sql, params)
        row: Row | None = await cur.fetchone()
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Return every row as a dict."""
        cur = await self._run(sql, params)
        rows: list[Row] = await cur.fetchall()
        return rows

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """Return the first column of the first row, or None."""
        row = await self.fetchone(sql, params)
        if row is None:
            return None
        return next(iter(row.values()))

    async def commit(self) -> None:
        """Send the notifications and COMMIT in one round trip (nothing if nothing ran)."""
        notifies = [
            pgsql.SQL("NOTIFY {}").format(pgsql.Identifier(channel)).as_string(self._conn)
            for channel in sorted(self.notifications)
        ]
        if self.begun:
            await self._conn.execute("; ".join([*notifies, "COMMIT"]))
            self.begun = False
        elif notifies:
            await self._conn.execute("; ".join(notifies))

    async def rollback(self) -> None:
        """Undo the transaction, if the server still holds it open (a failed COMMIT, or a first
        statement refused whole, left none: a ROLLBACK then would only draw a warning)."""
        self.begun = False
        if self._conn.info.transaction_status in (_INTRANS, _INERROR):
            await self._conn.execute("ROLLBACK")

    def notify(self, channel: str) -> None:
        """Send NOTIFY `channel` as this transaction commits."""
        self.notifications.add(channel)


class PostgresStore:
    """A Store on a PostgreSQL database shared by any number of processes and machines."""

    engine: Engine = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if psycopg is None:
            raise StoreUnavailableError(
                "PostgreSQL support needs psycopg: pip install 'seawall[postgres]'"
            )
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.schema = query.pop("schema", None)
        if self.schema is not None and not _IDENT.match(self.schema):
            raise ValueError(f"invalid schema name {self.schema!r}")
        self._conninfo = urlunsplit(parts._replace(query=urlencode(query)))
        self._display_url = redact_url(url)
        self.clock = clock
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout_s = connect_timeout_s
        self._pool: Any = None
        self._start_lock = asyncio.Lock()
        self._events: dict[str, asyncio.Event] = {}
        self._listen_channels: set[str] = set()
        self._listener: asyncio.Task[None] | None = None
        self.listener_pid: int | None = None

    @property
    def url(self) -> str:
        """The store URL without its password."""
        return self._display_url

    async def _configure(self, conn: Any) -> None:
        # Client-side binding (a transaction's first statement, see _PgTx) quotes floats as
        # float8; parameters bound by the server are dumped as before.
        conn.adapters.register_dumper(float, _Float8LiteralDumper)
        if self.schema:
            await conn.execute(
                pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema or "public"))
            )
            await conn.commit()

    async def _start(self) -> None:
        if self._pool is not None:
            return
        async with self._start_lock:
            if self._pool is not None:
                return
            # One direct connection first: a refused connection, a missing database or a wrong
            # password fails at once with the server's own reason (the pool would retry in the
            # background and report only "pool initialization incomplete" after its timeout).
            if self.schema:
                await self._create_schema()
            else:
                await self._probe()
            pool = AsyncConnectionPool(
                self._conninfo,
                min_size=self._min_size,
                max_size=self._max_size,
                kwargs={
                    "row_factory": dict_row,
                    "connect_timeout": int(self._connect_timeout_s),
                    "autocommit": True,  # each transaction sends its own BEGIN (see _PgTx)
                },
                configure=self._configure,
                open=False,
                timeout=self._connect_timeout_s * 2,
            )
            try:
                await pool.open(wait=True, timeout=self._connect_timeout_s)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await pool.close()
                raise self._unavailable(exc) from exc
            self._pool = pool

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"cannot connect to PostgreSQL at {self._display_url}: {exc}; "
            "check that the server is running and the URL is right"
        )

    async def _probe(self) -> None:
        """Connect once and close: StoreUnavailableError with the server's reason if it fails."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, connect_timeout=int(self._connect_timeout_s)
            )
        except Exception as exc:
            raise self._unavailable(exc) from exc
        await conn.close()

    async def _create_schema(self) -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=int(self._connect_timeout_s)
            )
        except Exception as exc:
            raise self._unavailable(exc) from exc
        async with conn:
            await conn.execute(
                pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    pgsql.Identifier(self.schema or "public")
                )
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTx]:
        """Open a read-write transaction on a pooled connection."""
        await self._start()
        try:
            conn_cm = self._pool.connection()
            conn = await conn_cm.__aenter__()
        except Exception as exc:
            raise self._unavailable(exc) from exc
        tx = _PgTx(conn)
        try:
            yield tx
            await tx.commit()
        except BaseException as exc:
            with contextlib.suppress(Exception):  # a broken connection: the pool discards it
                await tx.rollback()
            await conn_cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await conn_cm.__aexit__(None, None, None)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_PgTx]:
        """Open a read-only transaction."""
        async with self.transaction() as tx:
            yield tx

    async def _listen_loop(self) -> None:
        """Hold one LISTEN connection; reconnect with backoff when it drops (waiters fall back
        to their timeouts meanwhile, so a lost connection delays work but never loses it)."""
        delay = 0.1
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=int(self._connect_timeout_s),
                    application_name=LISTENER_APPLICATION_NAME,
                )
                async with conn:
                    self.listener_pid = conn.info.backend_pid
                    listening: set[str] = set()
                    delay = 0.1
                    while True:
                        for channel in self._listen_channels - listening:
                            await conn.execute(
                                pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel))
                            )
                            listening.add(channel)
                        async for note in conn.notifies(timeout=0.5):
                            event = self._events.pop(note.channel, None)
                            if event is not None:
                                event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection to %s lost (%s); reconnecting", self.url, exc)
                # Wake every waiter: something may have been notified while we were away.
                for event in self._events.values():
                    event.set()
                self._events.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def wait_for_notify(self, channel: str, timeout: float) -> bool:
        """Wait for NOTIFY `channel` from any process, or the timeout."""
        await self._start()
        self._listen_channels.add(channel)
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen_loop())
        event = self._events.get(channel)
        if event is None:
            event = self._events[channel] = asyncio.Event()
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await event.wait()
        except TimeoutError:
            return False
        return True

    async def migrate(self) -> list[str]:
        """Apply pending migrations; concurrent migrators wait on an advisory lock."""
        async with self.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            return await apply_migrations(tx, load_migrations("postgresql"), self.clock.time())

    async def schema_status(self) -> tuple[int, int]:
        """Return (version in the database, latest version this code knows)."""
        async with self.read() as tx:
            have = await current_version(tx)
        known = max((m.version for m in load_migrations("postgresql")), default=0)
        return have, known

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the server answers."""
        try:
            async with self.read() as tx:
                await tx.fetchval("SELECT 1")
        except StoreUnavailableError:
            raise
        except Exception as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        """Close the pool and the listener."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(BaseException):
                await self._listener
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (for tests and teardown)."""
        if not self.schema:
            raise ValueError("drop_schema needs a store opened with ?schema=NAME")
        await self.close()
        conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        async with conn:
            await conn.execute(
                pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    pgsql.Identifier(self.schema or "public")
                )
            )
