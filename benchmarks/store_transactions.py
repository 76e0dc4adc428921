"""Small PostgreSQL transactions: seawall's store against psycopg's own transaction block.

Every enqueue, ingested webhook, idempotency record and command write is a short transaction.
This measures transactions of one INSERT (200-byte body) and of three statements (INSERT,
UPDATE, SELECT), from 1 task (latency) and from 16 concurrent tasks (throughput), through:

- `seawall`: `store.transaction()` on seawall's PostgreSQL store (its BEGIN travels with the
  first statement and its COMMIT with any NOTIFY);
- `psycopg`: the same statements in `async with conn.transaction()` on a psycopg_pool pool of
  the same size (BEGIN, statements and COMMIT each their own round trip), the usual way.

Both pools hold 20 connections, opened and warmed before anything is timed.

    PYTHONPATH=src .venv/bin/python benchmarks/store_transactions.py [--rounds 3] [--count 3000]

Medians of the rounds; ratios are seawall / psycopg.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import psycopg
from psycopg_pool import AsyncConnectionPool

from seawall.store import Store, open_store

BASE_URL = os.environ.get("SEAWALL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "bench_store_tx"
BODY = b"x" * 200
POOL = 20

Step = Callable[[str], Awaitable[None]]


async def seawall_steps(store: Store) -> tuple[Step, Step]:
    """One-statement and three-statement transactions on seawall's store."""

    async def one(key: str) -> None:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO bench_tx (id, body, n) VALUES (?, ?, 0)", (key, BODY))

    async def three(key: str) -> None:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO bench_tx (id, body, n) VALUES (?, ?, 0)", (key, BODY))
            await tx.execute("UPDATE bench_tx SET n = n + 1 WHERE id = ?", (key,))
            await tx.fetchone("SELECT n FROM bench_tx WHERE id = ?", (key,))

    return one, three


async def psycopg_steps(pool: AsyncConnectionPool) -> tuple[Step, Step]:
    """The same transactions in psycopg's `conn.transaction()` blocks."""

    async def one(key: str) -> None:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO bench_tx (id, body, n) VALUES (%s, %s, 0)", (key, BODY))

    async def three(key: str) -> None:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO bench_tx (id, body, n) VALUES (%s, %s, 0)", (key, BODY))
            await conn.execute("UPDATE bench_tx SET n = n + 1 WHERE id = %s", (key,))
            cur = await conn.execute("SELECT n FROM bench_tx WHERE id = %s", (key,))
            await cur.fetchone()

    return one, three


async def latency_ms(step: Step, prefix: str, count: int) -> float:
    """Median latency of `count` transactions, one after another."""
    took = []
    for i in range(count):
        started = time.perf_counter()
        await step(f"{prefix}-{i}")
        took.append(time.perf_counter() - started)
    return statistics.median(took) * 1000


async def rate(step: Step, prefix: str, count: int, tasks: int = 16) -> float:
    """Transactions per second from `tasks` concurrent tasks, `count` in all."""
    each = count // tasks

    async def run(k: int) -> None:
        for i in range(each):
            await step(f"{prefix}-{k}-{i}")

    started = time.perf_counter()
    await asyncio.gather(*(run(k) for k in range(tasks)))
    return each * tasks / (time.perf_counter() - started)


async def reset_table() -> None:
    """An empty benchmark table in its own schema."""
    async with await psycopg.AsyncConnection.connect(BASE_URL, autocommit=True) as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await conn.execute(f"CREATE SCHEMA {SCHEMA}")
        await conn.execute(
            f"CREATE TABLE {SCHEMA}.bench_tx (id TEXT PRIMARY KEY, body BYTEA, n INTEGER)"
        )


async def main() -> None:
    """Run every case for both, print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        await reset_table()
        store = open_store(f"{BASE_URL}?schema={SCHEMA}", min_size=POOL, max_size=POOL)
        pool = AsyncConnectionPool(
            BASE_URL,
            min_size=POOL,
            max_size=POOL,
            kwargs={"options": f"-c search_path={SCHEMA}"},
            open=False,
        )
        await pool.open(wait=True)
        try:
            for who, (one, three) in (
                ("seawall", await seawall_steps(store)),
                ("psycopg", await psycopg_steps(pool)),
            ):
                tag = f"{who}{round_}"
                await rate(one, f"{tag}warm", 400)  # every pooled connection opened and used
                cases = {
                    "1 statement, latency ms": await latency_ms(one, f"{tag}l1", args.count // 6),
                    "3 statements, latency ms": await latency_ms(
                        three, f"{tag}l3", args.count // 6
                    ),
                    "1 statement, 16 tasks tx/s": await rate(one, f"{tag}r1", args.count),
                    "3 statements, 16 tasks tx/s": await rate(three, f"{tag}r3", args.count),
                }
                for case, value in cases.items():
                    results.setdefault((case, who), []).append(value)
                    print(f"round {round_ + 1}: {who:8} {case:28} {value:10.3f}", flush=True)
        finally:
            await store.close()
            await pool.close()
    print()
    print("| case | seawall | psycopg | seawall / psycopg |")
    print("|---|---:|---:|---:|")
    for case in dict.fromkeys(case for case, _ in results):
        ours = statistics.median(results[(case, "seawall")])
        theirs = statistics.median(results[(case, "psycopg")])
        digits = 3 if "latency" in case else 0
        print(f"| {case} | {ours:,.{digits}f} | {theirs:,.{digits}f} | {ours / theirs:.2f} |")
    async with await psycopg.AsyncConnection.connect(BASE_URL, autocommit=True) as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


if __name__ == "__main__":
    asyncio.run(main())
