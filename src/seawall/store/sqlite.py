"""The embedded engine: one SQLite file in WAL mode, writes funnelled through one writer thread.

Every logical transaction runs inside a SAVEPOINT on the writer connection. When a transaction
ends while others are waiting for the writer, its commit is deferred and shared with theirs (group
commit): one fsync makes a whole group durable, and no caller hears "committed" before that fsync.
Several processes may open the same file: each writer takes the file's write lock with
BEGIN IMMEDIATE and waits up to the busy timeout for it.

With `inline_writes=True` (the default) a group of transactions normally hops to the writer
thread once, for the COMMIT that waits for fsync; everything else runs on the event loop's thread,
where it touches pages already in the cache and finishes in microseconds (a thread hop costs more
than the statement, and under load the returning thread also waits for the GIL):
- BEGIN IMMEDIATE is first tried inline with a zero busy timeout. Only when another process holds
  the file's write lock does it go to the writer thread, which waits up to `busy_timeout_s`.
- SAVEPOINT, the statements, RELEASE and ROLLBACK TO touch no disk and run inline.
- COMMIT runs on the writer thread, so the fsync never blocks the event loop; callers hear
  "committed" only once it returned.
Pass `inline_writes=False` when transactions run long statements (large scans) that must not hold
up the event loop: then BEGIN and every statement run on the writer thread.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.store.base import Engine, Params, Row, StoreError, StoreUnavailableError
from seawall.store.migrator import load_migrations
from seawall.store.schema import apply_migrations

__all__ = ["SqliteStore"]

T = TypeVar("T")


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


class _SqliteTx:
    """A transaction on one SQLite connection; statements hop to that connection's thread."""

    __slots__ = ("_conn", "_run", "notifications")

    engine: Engine = "sqlite"

    def __init__(
        self,
        conn: sqlite3.Connection,
        run: Callable[[Callable[[], Any]], asyncio.Future[Any]],
    ) -> None:
        self._conn = conn
        self._run = run
        self.notifications: set[str] = set()

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the rows it changed."""
        conn = self._conn

        def op() -> int:
            return conn.execute(sql, params).rowcount

        result: int = await self._run(op)
        return result

    async def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> int:
        """Run one statement per parameter tuple."""
        conn = self._conn
        rows = list(seq_of_params)

        def op() -> int:
            return conn.executemany(sql, rows).rowcount

        result: int = await self._run(op)
        return result

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Return the first row as a dict, or None."""
        conn = self._conn

        def op() -> Row | None:
            row: Row | None = conn.execute(sql, params).fetchone()
            return row

        result: Row | None = await self._run(op)
        return result

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Return every row as a dict."""
        conn = self._conn

        def op() -> list[Row]:
            return conn.execute(sql, params).fetchall()

        result: list[Row] = await self._run(op)
        return result

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """Return the first column of the first row, or None."""
        row = await self.fetchone(sql, params)
        if row is None:
            return None
        return next(iter(row.values()))

    def notify(self, channel: str) -> None:
        """Wake in-process listeners of `channel` after commit."""
        self.notifications.add(channel)


class SqliteStore:
    """A Store on one SQLite file (see the module docstring for how writes are made durable)."""

    engine: Engine = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock = SYSTEM_CLOCK,
        synchronous: str = "FULL",
        busy_timeout_s: float = 30.0,
        group_commit_max: int = 256,
        inline_writes: bool = True,
    ) -> None:
        if str(path) in ("", ":memory:"):
            raise StoreUnavailableError(
                "SQLite needs a file path (a memory database cannot be shared by the writer and "
                "readers); use sqlite:///seawall.db"
            )
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be OFF, NORMAL, FULL or EXTRA")
        self.path = Path(path)
        self.clock = clock
        self._synchronous = synchronous.upper()
        self._busy_timeout_s = busy_timeout_s
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._group_commit_max = group_commit_max
        self._inline_writes = inline_writes
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._waiting = 0
        self._outer_open = False
        self._pending: list[tuple[asyncio.Future[None], set[str]]] = []
        self._events: dict[str, asyncio.Event] = {}
        self._start_lock = asyncio.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        """The store URL."""
        return f"sqlite:///{self.path}"

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            if self.path.parent and not self.path.parent.exists():
                raise StoreUnavailableError(
                    f"cannot open SQLite store {self.path}: folder {self.path.parent} does not "
                    "exist; create it or choose another path"
                )
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout_s,
            )
            conn.row_factory = _dict_row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            conn.execute("PRAGMA foreign_keys=ON")
            # Statement journals (a multi-row INSERT inside a savepoint needs one) stay in
            # memory: on disk each was a temporary file opened, written and deleted per
            # transaction, five system calls and more on the event loop's thread.
            conn.execute("PRAGMA temp_store=MEMORY")
            return conn
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot open SQLite store {self.path}: {exc}") from exc

    async def _start(self) -> None:
        if self._wconn is not None:
            return
        if self._closed:
            raise StoreError("this store is closed")
        async with self._start_lock:
            if self._wconn is not None:
                return
            writer = ThreadPoolExecutor(1, thread_name_prefix="seawall-sqlite-writer")
            reader = ThreadPoolExecutor(1, thread_name_prefix="seawall-sqlite-reader")
            loop = asyncio.get_running_loop()
            try:
                wconn = await loop.run_in_executor(writer, self._connect)
                rconn = await loop.run_in_executor(reader, self._connect)
            except BaseException:
                writer.shutdown(wait=False)
                reader.shutdown(wait=False)
                raise
            self._writer, self._reader, self._rconn = writer, reader, rconn
            self._wconn = wconn

    def _run_write(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        assert self._writer is not None
        return asyncio.get_running_loop().run_in_executor(self._writer, _guard(fn))

    def _run_inline(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(_guard(fn)())
        except Exception as exc:
            future.set_exception(exc)
        return future

    def _run_read(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        assert self._reader is not None
        return asyncio.get_running_loop().run_in_executor(self._reader, _guard(fn))

    # -- transactions ------------------------------------------------------------------------

    def _begin(self, wait: bool = True) -> bool:
        """Open the shared outer transaction if needed, then this transaction's savepoint.

        With `wait=False` (on the event loop), return False at once instead of waiting when
        another process holds the file's write lock; the caller then retries on the writer thread.
        """
        conn = self._wconn
        assert conn is not None
        if not self._outer_open:
            if wait:
                conn.execute("BEGIN IMMEDIATE")
            else:
                conn.execute("PRAGMA busy_timeout=0")
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                        return False
                    raise
                finally:
                    conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            self._outer_open = True
        conn.execute("SAVEPOINT tx")
        return True

    def _release(self) -> None:
        assert self._wconn is not None
        self._wconn.execute("RELEASE tx")

    def _rollback(self) -> None:
        conn = self._wconn
        assert conn is not None
        if not conn.in_transaction:
            self._outer_open = False
            return
        conn.execute("ROLLBACK TO tx")
        conn.execute("RELEASE tx")
        if not self._pending:
            conn.execute("ROLLBACK")
            self._outer_open = False

    def _commit(self) -> None:
        conn = self._wconn
        assert conn is not None
        try:
            if conn.in_transaction:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._outer_open = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        """Open a read-write transaction; it is durable once the `async with` block exits."""
        await self._start()
        assert self._wconn is not None
        self._waiting += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._waiting -= 1
        done: asyncio.Future[None] | None = None
        try:
            if not self._inline_writes:
                run = self._run_write
                await run(self._begin)
            else:
                run = self._run_inline
                if not await run(functools.partial(self._begin, wait=False)):
                    await self._run_write(self._begin)
            tx = _SqliteTx(self._wconn, run)
            try:
                yield tx
            except BaseException:
                await asyncio.shield(run(self._rollback))
                raise
            await run(self._release)
            done = asyncio.get_running_loop().create_future()
            self._pending.append((done, tx.notifications))
        finally:
            try:
                if self._pending and (
                    self._waiting == 0 or len(self._pending) >= self._group_commit_max
                ):
                    await self._flush()
            finally:
                self._write_lock.release()
        await done

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            await asyncio.shield(self._run_write(self._commit))
        except BaseException as exc:
            for future, _ in pending:
                if not future.done():
                    future.set_exception(_as_store_error(exc))
            return
        for future, channels in pending:
            for channel in channels:
                self._wake(channel)
            if not future.done():
                future.set_result(None)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_SqliteTx]:
        """Open a read-only snapshot on the reader connection."""
        await self._start()
        assert self._rconn is not None
        conn = self._rconn
        async with self._read_lock:
            await self._run_read(lambda: conn.execute("BEGIN"))
            try:
                yield _SqliteTx(conn, self._run_read)
            finally:
                await asyncio.shield(self._run_read(lambda: conn.execute("COMMIT")))

    # -- notifications -----------------------------------------------------------------------

    def _wake(self, channel: str) -> None:
        event = self._events.pop(channel, None)
        if event is not None:
            event.set()

    async def wait_for_notify(self, channel: str, timeout: float) -> bool:
        """Wait for an in-process notification (other processes are seen by polling)."""
        event = self._events.get(channel)
        if event is None:
            event = self._events[channel] = asyncio.Event()
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await event.wait()
        except TimeoutError:
            return False
        return True

    # -- schema and lifecycle ----------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Apply pending migrations in one transaction."""
        async with self.transaction() as tx:
            return await apply_migrations(tx, load_migrations("sqlite"), self.clock.time())

    async def schema_status(self) -> tuple[int, int]:
        """Return (version in the database, latest version this code knows)."""
        from seawall.store.schema import current_version

        async with self.read() as tx:
            have = await current_version(tx)
        known = max((m.version for m in load_migrations("sqlite")), default=0)
        return have, known

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the file can be read."""
        async with self.read() as tx:
            await tx.fetchval("SELECT 1")

    async def close(self) -> None:
        """Commit anything pending and release the threads and connections."""
        if self._closed:
            return
        self._closed = True
        if self._wconn is None:
            return
        async with self._write_lock:
            if self._pending:
                await self._flush()
        wconn, rconn = self._wconn, self._rconn
        assert self._writer is not None and self._reader is not None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, wconn.close)
        if rconn is not None:
            await loop.run_in_executor(self._reader, rconn.close)
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        self._wconn = self._rconn = None


def _as_store_error(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"SQLite error: {exc}")
    return exc


def _guard(fn: Callable[[], T]) -> Callable[[], T]:
    """Turn sqlite3 errors raised in the worker thread into named store errors."""

    def call() -> T:
        try:
            return fn()
        except sqlite3.IntegrityError:
            raise
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreUnavailableError(
                    f"SQLite file is locked by another writer: {exc}"
                ) from exc
            raise

    return call
