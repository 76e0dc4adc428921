"""PostgreSQL transactions on autocommit connections: BEGIN rides with the first statement,
NOTIFY with the COMMIT, an empty transaction sends nothing, and failures leave the pool clean.

The store here has one pooled connection, so every transaction reuses it; the libpq trace of
that connection shows what was sent (one frontend `Query` or `Sync` is one round trip)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg import pq

from seawall.store.postgres import PostgresStore
from tests.conftest import require_postgres, unique_schema
from tests.store.pgtrace import notices, traced

IDLE = pq.TransactionStatus.IDLE


@pytest_asyncio.fixture
async def pg() -> AsyncIterator[PostgresStore]:
    """A PostgreSQL store with a single pooled connection, in a private schema."""
    store = PostgresStore(f"{require_postgres()}?schema={unique_schema()}", max_size=1)
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, note TEXT)")
    yield store
    await store.drop_schema()


async def _connection(store: PostgresStore) -> Any:
    """The pool's one connection (a transaction that runs nothing hands it over for free)."""
    async with store.transaction() as tx:
        return tx._conn


async def _keys(store: PostgresStore) -> list[int]:
    async with store.read() as tx:
        return [int(r["k"]) for r in await tx.fetchall("SELECT k FROM t ORDER BY k")]


# -- values bound client-side ---------------------------------------------------------------

_VALUES: list[tuple[str, Any]] = [
    ("v_bytea", b"\x00\x01'\\%?\x7f\x80\xfe\xff"),
    ("v_bytea", bytes(range(256))),
    ("v_bytea", b""),
    ("v_text", "it's \"quoted\" '' \\ \\\\ back\\slash 100% ? %s %% %(x)s $1 -- /* e\u0301 \u00e9"),
    ("v_text", "'); DROP TABLE rt; -- \u4e2d\u6587 \U0001f600 \u200b"),
    ("v_text", ""),
    ("v_bigint", 2**63 - 1),
    ("v_bigint", -(2**63)),
    ("v_numeric", 10**40 + 7),
    ("v_numeric", -(10**40) - 7),
    ("v_float", 1e-300),
    ("v_float", -0.0),
    ("v_float", 5e-324),
    ("v_float", 0.1),
    ("v_float", -1.7976931348623157e308),
    ("v_float", math.inf),
    ("v_bool", True),
    ("v_bool", False),
    ("v_text", None),
]


def _same(got: Any, want: Any) -> bool:
    """Equal in type and in every bit that shows (repr tells -0.0 from 0.0)."""
    return type(got) is type(want) and repr(got) == repr(want)


async def test_values_round_trip_exactly_when_bound_with_the_begin(pg: PostgresStore) -> None:
    async with pg.transaction() as tx:
        await tx.execute(
            "CREATE TABLE rt (k INTEGER PRIMARY KEY, v_bytea BYTEA, v_text TEXT, "
            "v_bigint BIGINT, v_numeric NUMERIC, v_float DOUBLE PRECISION, v_bool BOOLEAN)"
        )
    conn = await _connection(pg)
    for k, (column, value) in enumerate(_VALUES):
        stored = Decimal(value) if column == "v_numeric" else value
        with traced(conn) as sent:
            async with pg.transaction() as tx:  # execute, bound client-side with the BEGIN
                assert await tx.execute(f"INSERT INTO rt (k, {column}) VALUES (?, ?)", (k, value))
        assert sent[0].startswith("BEGIN; INSERT INTO rt"), sent
        async with pg.read() as tx:  # fetchone: the stored value, and the parameter echoed
            row = await tx.fetchone(
                f"SELECT {column} AS v, ? AS echo FROM rt WHERE k = ?", (value, k)
            )
            server_bound = await tx.fetchone("SELECT ? AS echo", (value,))  # begun: server-side
        assert row is not None and server_bound is not None
        assert _same(row["v"], stored), (column, value, row)
        assert _same(row["echo"], server_bound["echo"]), (column, value, row, server_bound)
        async with pg.read() as tx:  # fetchall: the value as a condition
            rows = await tx.fetchall(
                f"SELECT k FROM rt WHERE {column} IS NOT DISTINCT FROM ? AND k = ?", (value, k)
            )
        assert rows == [{"k": k}], (column, value)
        async with pg.read() as tx:  # fetchval: the parameter alone
            echoed = await tx.fetchval("SELECT ?", (value,))
            again = await tx.fetchval("SELECT ?", (value,))
        assert _same(echoed, again), (column, value, echoed, again)
        if isinstance(value, float):
            assert _same(echoed, value)


# -- round trips ----------------------------------------------------------------------------


async def test_a_transaction_that_runs_nothing_sends_nothing(pg: PostgresStore) -> None:
    conn = await _connection(pg)
    with traced(conn) as sent:
        async with pg.transaction():
            pass
        async with pg.read():
            pass
    assert sent == []
    with traced(conn) as sent:
        async with pg.transaction() as tx:
            tx.notify("sw_only_notify")
    assert sent == ['NOTIFY "sw_only_notify"']
    with traced(conn) as sent:
        async with pg.transaction() as tx:
            await tx.execute("INSERT INTO t (k) VALUES (?)", (1,))
            await tx.execute("INSERT INTO t (k) VALUES (?)", (2,))
            tx.notify("sw_b")
            tx.notify("sw_a")
    assert sent[0] == "BEGIN; INSERT INTO t (k) VALUES (1)"
    assert sent[-1] == 'NOTIFY "sw_a"; NOTIFY "sw_b"; COMMIT'
    assert len(sent) == 3, sent
    assert conn.info.transaction_status == IDLE
    assert await _keys(pg) == [1, 2]


# -- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "params", "error"),
    [
        ("INSERT INTO t (k) VALUES (?), (2), (?)", (1, 1), psycopg.errors.UniqueViolation),
        ("INSERT INTO t (k) SELECT ? / (k - k) FROM t", (1,), psycopg.errors.DivisionByZero),
        ("INSERT INTO t (k) VALUE (?)", (1,), psycopg.errors.SyntaxError),
        ("INSERT INTO t (k, note) VALUES (?, ?)", (1,), psycopg.ProgrammingError),  # unsent
    ],
)
async def test_a_failing_first_statement_leaves_nothing_behind(
    pg: PostgresStore,
    caplog: pytest.LogCaptureFixture,
    first: str,
    params: tuple[int, ...],
    error: type[Exception],
) -> None:
    async with pg.transaction() as tx:
        await tx.execute("INSERT INTO t (k) VALUES (7)")
    conn = await _connection(pg)
    with notices(conn) as heard, caplog.at_level(logging.INFO, logger="psycopg"):
        with pytest.raises(error):
            async with pg.transaction() as tx:
                await tx.execute(first, params)
        assert conn.info.transaction_status == IDLE
        async with pg.transaction() as tx:
            assert tx._conn is conn
            await tx.execute("INSERT INTO t (k) VALUES (?)", (8,))
    assert heard == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert await _keys(pg) == [7, 8]


async def test_a_statement_refused_before_sending_leaves_the_transaction_whole(
    pg: PostgresStore,
) -> None:
    """A first statement that never reached the server (its parameters did not fit) began
    nothing: what the transaction runs next is still one transaction, undone on rollback."""
    conn = await _connection(pg)
    with notices(conn) as heard, pytest.raises(ValueError, match="undo"):
        async with pg.transaction() as tx:
            with pytest.raises(psycopg.ProgrammingError):
                await tx.execute("INSERT INTO t (k, note) VALUES (?, ?)", (1,))
            await tx.execute("INSERT INTO t (k) VALUES (?)", (2,))
            raise ValueError("undo the insert")
    assert heard == []
    assert await _keys(pg) == []


async def test_a_failing_commit_raises_and_commits_nothing(pg: PostgresStore) -> None:
    async with pg.transaction() as tx:
        await tx.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await tx.execute(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER "
            "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    conn = await _connection(pg)
    with notices(conn) as heard:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            async with pg.transaction() as tx:
                await tx.execute("INSERT INTO t (k) VALUES (?)", (1,))
                await tx.execute("INSERT INTO child (id, parent) VALUES (?, ?)", (1, 99))
                tx.notify("sw_never")
        assert conn.info.transaction_status == IDLE
        async with pg.transaction() as tx:
            await tx.execute("INSERT INTO t (k) VALUES (?)", (2,))
    assert heard == []
    assert await _keys(pg) == [2]
    async with pg.read() as tx:
        assert await tx.fetchval("SELECT COUNT(*) FROM child") == 0


async def _wait_until_sleeping(pid: int) -> None:
    """Until backend `pid` is inside pg_sleep (seen from another connection)."""
    async with await psycopg.AsyncConnection.connect(require_postgres(), autocommit=True) as admin:
        for _ in range(500):
            cur = await admin.execute(
                "SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)
            )
            if await cur.fetchone() == ("PgSleep",):
                return
            await asyncio.sleep(0.01)
    pytest.fail(f"backend {pid} never started sleeping")


@pytest.mark.parametrize("where", ["first statement", "later statement", "between statements"])
async def test_a_cancelled_transaction_leaves_the_pool_healthy(
    pg: PostgresStore, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    async with pg.read() as tx:
        pid = int(await tx.fetchval("SELECT pg_backend_pid()"))
    conn = await _connection(pg)
    between = asyncio.Event()

    async def doomed() -> None:
        async with pg.transaction() as tx:
            if where == "first statement":
                await tx.execute("INSERT INTO t (k) SELECT 1 FROM pg_sleep(30)")
            await tx.execute("INSERT INTO t (k) VALUES (?)", (2,))
            tx.notify("sw_cancelled")
            if where == "later statement":
                await tx.execute("SELECT pg_sleep(30)")
            between.set()
            await asyncio.sleep(30)

    with notices(conn) as heard, caplog.at_level(logging.INFO, logger="psycopg"):
        task = asyncio.create_task(doomed())
        if where == "between statements":
            await between.wait()
        else:
            await _wait_until_sleeping(pid)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert conn.info.transaction_status == IDLE
        for k in (3, 4):
            async with pg.transaction() as tx:
                assert await tx.fetchval("SELECT pg_backend_pid()") == pid
                await tx.execute("INSERT INTO t (k) VALUES (?)", (k,))
    assert [n for n in heard if "canceling statement" not in n] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert await _keys(pg) == [3, 4]


# -- notifications --------------------------------------------------------------------------


async def test_a_notify_reaches_listeners_when_its_transaction_commits_only(
    pg: PostgresStore,
) -> None:
    channel = "sw_tx_notify"
    assert await pg.wait_for_notify(channel, 1.0) is False  # the listener now LISTENs
    waiter = asyncio.create_task(pg.wait_for_notify(channel, 1.5))
    with pytest.raises(ValueError, match="rolled back"):
        async with pg.transaction() as tx:
            await tx.execute("INSERT INTO t (k) VALUES (?)", (1,))
            tx.notify(channel)
            raise ValueError("rolled back")
    assert await waiter is False
    waiter = asyncio.create_task(pg.wait_for_notify(channel, 10))
    async with pg.transaction() as tx:
        await tx.execute("INSERT INTO t (k) VALUES (?)", (2,))
        tx.notify(channel)
        await asyncio.sleep(0.5)  # the listener hears nothing while the transaction is open
        assert not waiter.done()
    assert await waiter is True
    assert await _keys(pg) == [2]


# -- executemany first ----------------------------------------------------------------------


async def test_executemany_first_begins_alone_and_rolls_back_with_the_transaction(
    pg: PostgresStore,
) -> None:
    conn = await _connection(pg)
    with traced(conn) as sent:
        async with pg.transaction() as tx:
            await tx.executemany("INSERT INTO t (k) VALUES (?)", [(1,), (2,)])
    assert sent[0] == "BEGIN" and sent[-1] == "COMMIT", sent
    with pytest.raises(psycopg.errors.UniqueViolation):
        async with pg.transaction() as tx:
            await tx.executemany("INSERT INTO t (k) VALUES (?)", [(3,), (4,), (1,)])
    with pytest.raises(ValueError, match="undo"):
        async with pg.transaction() as tx:
            await tx.executemany("INSERT INTO t (k) VALUES (?)", [(5,), (6,)])
            raise ValueError("undo the rows")
    assert conn.info.transaction_status == IDLE
    assert await _keys(pg) == [1, 2]
