"""Queue throughput: seawall (SQLite, PostgreSQL) against procrastinate and hookrelay.

One run, one PostgreSQL server. Each system gets its own database (created here and dropped at
the end). For each system and round: enqueue throughput (32 concurrent producers, one job per
call; and the batch form where the library has one), then processing throughput of no-op jobs
(time from worker start until every job is finished). Prints medians over the rounds and the
ratio of seawall to each peer.

    .venv/bin/python benchmarks/queue_throughput.py [--rounds 3] [--jobs 20000] [--peer-jobs 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from seawall.jobs import Job, Queue, Worker
from seawall.store import Store, Tx, open_store

BASE_URL = os.environ.get("SEAWALL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PRODUCERS = 32
Result = dict[str, float]


def db_url(name: str) -> str:
    """The server URL with another database name."""
    parts = urlsplit(BASE_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def recreate_database(name: str) -> None:
    """Drop and create a benchmark database."""
    async with await psycopg.AsyncConnection.connect(BASE_URL, autocommit=True) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')


async def drop_database(name: str) -> None:
    """Drop a benchmark database."""
    async with await psycopg.AsyncConnection.connect(BASE_URL, autocommit=True) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def concurrently(count: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """Call `one(i)` for every i with PRODUCERS concurrent callers; return calls per second."""
    counter = iter(range(count))

    async def producer() -> None:
        for i in counter:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(PRODUCERS)))
    return count / (time.perf_counter() - started)


# -- seawall --------------------------------------------------------------------------------------


async def seawall_round(store: Store, jobs: int, transactional: bool) -> Result:
    """One round of seawall: single enqueues, batch enqueue, processing."""
    queue = Queue(store)
    async with store.transaction() as tx:
        await tx.execute("DELETE FROM seawall_jobs")
    single = min(jobs, 5000)
    enqueue = await concurrently(single, lambda i: queue.enqueue("bench", {"i": i}))
    started = time.perf_counter()
    for start in range(0, jobs - single, 1000):
        await queue.enqueue_many(
            "bench", [{"i": i} for i in range(start, min(jobs - single, start + 1000))]
        )
    batch = (jobs - single) / (time.perf_counter() - started)
    worker = Worker(store, queue=queue, concurrency=64, batch_size=256)
    if transactional:

        async def noop_tx(job: Job, tx: Tx) -> None:
            del job, tx

        worker.register("bench", noop_tx)
    else:

        async def noop(job: Job) -> None:
            del job

        worker.register("bench", noop, transactional=False)
    started = time.perf_counter()
    processed = await worker.run_until_idle()
    elapsed = time.perf_counter() - started
    assert processed == jobs, (processed, jobs)
    return {"enqueue": enqueue, "enqueue_batch": batch, "process": jobs / elapsed}


async def seawall_rounds(url: str, jobs: int, rounds: int, transactional: bool) -> list[Result]:
    """Every round of seawall on one store."""
    store = open_store(url)
    await store.migrate()
    try:
        return [await seawall_round(store, jobs, transactional) for _ in range(rounds)]
    finally:
        await store.close()


# -- procrastinate --------------------------------------------------------------------------------


async def procrastinate_rounds(jobs: int, rounds: int) -> list[Result]:
    """procrastinate on its own database with its own schema; worker concurrency 16."""
    import procrastinate

    await recreate_database("bench_procrastinate")
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=db_url("bench_procrastinate"))
    )

    @app.task(queue="bench", name="noop")
    async def noop(i: int) -> None:
        del i

    results: list[Result] = []
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        for _ in range(rounds):
            async with await psycopg.AsyncConnection.connect(
                db_url("bench_procrastinate"), autocommit=True
            ) as conn:
                await conn.execute("TRUNCATE procrastinate_jobs CASCADE")
            enqueue = await concurrently(jobs // 2, lambda i: noop.defer_async(i=i))
            started = time.perf_counter()
            for start in range(jobs // 2, jobs, 1000):
                kwargs = [{"i": i} for i in range(start, min(jobs, start + 1000))]
                await noop.batch_defer_async(*kwargs)
            batch = (jobs - jobs // 2) / (time.perf_counter() - started)
            started = time.perf_counter()
            await app.run_worker_async(
                queues=["bench"], concurrency=16, wait=False, install_signal_handlers=False
            )
            elapsed = time.perf_counter() - started
            results.append({"enqueue": enqueue, "enqueue_batch": batch, "process": jobs / elapsed})
    await drop_database("bench_procrastinate")
    return results


# -- hookrelay ------------------------------------------------------------------------------------


async def hookrelay_rounds(jobs: int, rounds: int) -> list[Result]:
    """hookrelay's PostgreSQL backend (SQLAlchemy + psycopg) on its own database."""
    from hookrelay import WebhookEvent
    from hookrelay import Worker as HookWorker
    from hookrelay.backends.postgres import PostgresBackend
    from sqlalchemy.ext.asyncio import create_async_engine

    await recreate_database("bench_hookrelay")
    url = db_url("bench_hookrelay").replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_async_engine(url, pool_size=20, max_overflow=20)
    backend = PostgresBackend(engine)
    await backend.init_schema()

    async def noop(event: WebhookEvent) -> None:
        del event

    results: list[Result] = []
    try:
        for _ in range(rounds):
            async with engine.begin() as conn:
                from sqlalchemy import text

                await conn.execute(text("TRUNCATE hookrelay_events"))
            enqueue = await concurrently(
                jobs, lambda i: backend.enqueue(WebhookEvent(source="bench", payload={"i": i}))
            )
            worker = HookWorker(backend, noop, batch_size=100, concurrency=16)
            started = time.perf_counter()
            while await worker.run_once():
                pass
            elapsed = time.perf_counter() - started
            results.append({"enqueue": enqueue, "process": jobs / elapsed})
    finally:
        await engine.dispose()
        await drop_database("bench_hookrelay")
    return results


# -- report ---------------------------------------------------------------------------------------


def median(results: list[Result], key: str) -> float | None:
    """Median of one figure over the rounds, or None when the system lacks it."""
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else None


def show(value: float | None) -> str:
    """A figure for the table."""
    return "-" if value is None else f"{value:,.0f}"


async def main() -> None:
    """Run every system and print the table of medians and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per round for seawall")
    parser.add_argument("--peer-jobs", type=int, default=2_000, help="jobs per round for peers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    table: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(f"seawall SQLite (synchronous=FULL), {args.jobs} jobs x {args.rounds} ...")
        table["seawall sqlite"] = await seawall_rounds(sqlite_url, args.jobs, args.rounds, False)
        table["seawall sqlite tx-ack"] = await seawall_rounds(
            sqlite_url, args.jobs, args.rounds, True
        )
    await recreate_database("bench_seawall")
    try:
        print(f"seawall PostgreSQL, {args.jobs} jobs x {args.rounds} ...")
        pg_url = db_url("bench_seawall")
        table["seawall postgresql"] = await seawall_rounds(pg_url, args.jobs, args.rounds, False)
        table["seawall postgresql tx-ack"] = await seawall_rounds(
            pg_url, args.jobs, args.rounds, True
        )
    finally:
        await drop_database("bench_seawall")
    print(f"procrastinate, {args.peer_jobs} jobs x {args.rounds} ...")
    table["procrastinate"] = await procrastinate_rounds(args.peer_jobs, args.rounds)
    print(f"hookrelay, {args.peer_jobs} jobs x {args.rounds} ...")
    table["hookrelay"] = await hookrelay_rounds(args.peer_jobs, args.rounds)

    print()
    print(f"{'system':28} {'enqueue/s':>10} {'batch enq/s':>12} {'processed/s':>12}")
    for name, results in table.items():
        print(
            f"{name:28} {show(median(results, 'enqueue')):>10} "
            f"{show(median(results, 'enqueue_batch')):>12} {show(median(results, 'process')):>12}"
        )
    print()
    for ours in ("seawall postgresql", "seawall postgresql tx-ack", "seawall sqlite"):
        for peer in ("procrastinate", "hookrelay"):
            mine, theirs = median(table[ours], "process"), median(table[peer], "process")
            if mine and theirs:
                print(f"processed/s {ours} / {peer}: {mine / theirs:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
