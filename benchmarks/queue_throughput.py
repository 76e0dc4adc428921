"""Queue throughput: seawall (SQLite, PostgreSQL) against procrastinate, hookrelay, PgQueuer, DBOS.

One run, one PostgreSQL server. Each system gets its own database (created here and dropped at
the end; each of seawall's four rows a fresh one, so no row inherits another's dead rows on a
server without autovacuum). For each system and round: enqueue throughput (32 concurrent
producers, one job per call; and the batch form where the library has one), then processing
throughput of no-op jobs (time from worker start until every job is finished). Prints medians
over the rounds and the ratio of seawall to each peer.

- PgQueuer runs with its own benchmark's settings (tools/benchmark.py in its repository):
  asyncpg, 5 dequeuers with batch size 10. `pgqueuer drain`: `--pgqueuer-jobs` (50,000, its
  default) enqueued, then drained. `pgqueuer 1 enq + 5 deq`: 1 enqueuer with batch size 10 and
  the 5 dequeuers together for `--pgqueuer-seconds` (its default is 30; 10 here); its
  enqueue/s is in the batch column. Its benchmark splits jobs between an async and a sync
  (thread) entrypoint; here every job runs the same async no-op as the other systems.
- DBOS Transact (`dbos`): each job is a workflow on a queue with `worker_concurrency`
  `--dbos-concurrency` (64, as seawall's worker) and `polling_interval_sec` `--dbos-poll-ms`
  (50 ms; DBOS's default of 1 s caps a queue at one claim a second); its system database on
  PostgreSQL or on a SQLite file. `transaction`: the workflow calls a no-op
  `@datasource.transaction()` on an application database (DBOS 3 replaced `@DBOS.transaction`
  with datasources; the step's output is recorded in its own transaction, exactly once), the
  counterpart of seawall's tx-ack. DBOS has no batch enqueue.

    .venv/bin/python benchmarks/queue_throughput.py [--rounds 3] [--jobs 20000] [--peer-jobs 2000]
        [--pgqueuer-jobs 50000] [--pgqueuer-seconds 10] [--dbos-poll-ms 50] [--skip NAME ...]
        [--only NAME ...]

`--only seawall` runs seawall's four rows alone; `--only "seawall postgresql tx-ack"` one row.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from seawall.jobs import Job, Queue, Worker
from seawall.store import Store, Tx, open_store

BASE_URL = os.environ.get("SEAWALL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PRODUCERS = 32
SEAWALL_ROWS = (("sqlite", False), ("sqlite", True), ("postgresql", False), ("postgresql", True))
"""seawall's rows: (engine, ack in the handler's transaction); each on a fresh database."""
SEAWALL_DATABASE = f"bench_seawall_{os.getpid()}"
"""Named per run, so runs side by side on one server do not drop each other's database."""
DBOS_POLL_MS = 50.0
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


# -- PgQueuer -------------------------------------------------------------------------------------

PGQ_DEQUEUERS = 5
PGQ_BATCH = 10


async def pgqueuer_rounds(jobs: int, rounds: int, seconds: float) -> dict[str, list[Result]]:
    """PgQueuer with its own benchmark's settings (tools/benchmark.py in its repository).

    asyncpg driver, 5 dequeuers (one PgQueuer and one connection each) with batch size 10. Drain:
    `jobs` jobs enqueued first, then the dequeuers run in drain mode until the queue is empty.
    Throughput: 1 enqueuer with batch size 10 and the 5 dequeuers running together for `seconds`.
    Its benchmark splits jobs between an async and a sync (thread) entrypoint; here every job has
    the same async no-op handler as the other systems.
    """
    import asyncpg
    from pgqueuer import AsyncpgDriver, AsyncpgPoolDriver, PgQueuer, Queries
    from pgqueuer.types import QueueExecutionMode

    await recreate_database("bench_pgqueuer")
    url = db_url("bench_pgqueuer")
    admin = await asyncpg.connect(url)
    queries = Queries(AsyncpgDriver(admin))
    await queries.install()
    pool = await asyncpg.create_pool(url, min_size=PRODUCERS, max_size=PRODUCERS)
    assert pool is not None
    pooled = Queries(AsyncpgPoolDriver(pool))
    processed = 0

    async def dequeuers(mode: QueueExecutionMode) -> tuple[list[PgQueuer], list[Any], list[Any]]:
        conns = [await asyncpg.connect(url) for _ in range(PGQ_DEQUEUERS)]
        pgqs = [PgQueuer(AsyncpgDriver(conn)) for conn in conns]
        for pgq in pgqs:

            @pgq.entrypoint("noop")
            async def noop(job: Any) -> None:
                nonlocal processed
                del job
                processed += 1

        return pgqs, [pgq.run(batch_size=PGQ_BATCH, mode=mode) for pgq in pgqs], conns

    drain: list[Result] = []
    steady: list[Result] = []
    try:
        for _ in range(rounds):
            await queries.clear_queue()
            await queries.clear_queue_log()
            await queries.clear_statistics_log()
            single = min(5000, jobs // 10)
            enqueue = await concurrently(single, lambda i: pooled.enqueue("noop", None, 0))
            started = time.perf_counter()
            rest = jobs - single
            await queries.enqueue(["noop"] * rest, [None] * rest, [0] * rest)
            batch = rest / (time.perf_counter() - started)
            processed = 0
            _, runs, conns = await dequeuers(QueueExecutionMode.drain)
            started = time.perf_counter()
            await asyncio.gather(*runs)
            elapsed = time.perf_counter() - started
            assert processed == jobs, (processed, jobs)
            for conn in conns:
                await conn.close()
            drain.append({"enqueue": enqueue, "enqueue_batch": batch, "process": jobs / elapsed})

            await queries.clear_queue()
            processed = 0
            enqueued = 0
            stop = asyncio.Event()

            async def enqueuer(stop: asyncio.Event) -> None:
                nonlocal enqueued
                while not stop.is_set():
                    await queries.enqueue(["noop"] * PGQ_BATCH, [None] * PGQ_BATCH, [0] * PGQ_BATCH)
                    enqueued += PGQ_BATCH

            pgqs, runs, conns = await dequeuers(QueueExecutionMode.continuous)
            started = time.perf_counter()
            tasks = [asyncio.ensure_future(run) for run in [*runs, enqueuer(stop)]]
            await asyncio.sleep(seconds)
            stop.set()
            for pgq in pgqs:
                pgq.shutdown.set()
            elapsed = time.perf_counter() - started
            done, enq = processed, enqueued
            await asyncio.gather(*tasks)
            for conn in conns:
                await conn.close()
            steady.append({"enqueue_batch": enq / elapsed, "process": done / elapsed})
    finally:
        await pool.close()
        await admin.close()
        await drop_database("bench_pgqueuer")
    return {"pgqueuer drain": drain, "pgqueuer 1 enq + 5 deq": steady}


# -- DBOS Transact --------------------------------------------------------------------------------


def destroy_dbos(dbos: Any, registry: bool) -> None:
    """Destroy the DBOS instance; give this loop back an executor that is not shut down."""
    dbos.destroy(destroy_registry=registry)
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())


async def dbos_round(
    engine: str,
    folder: str,
    jobs: int,
    transactional: bool,
    poll_s: float,
    concurrency: int,
    handler_s: float = 0.0,
) -> Result:
    """One round of DBOS's queue on a fresh system database (and application database).

    Each job is a `@DBOS.workflow()` enqueued on a queue registered with `worker_concurrency`
    and `polling_interval_sec` as given. Plain: the workflow body is the no-op (at-least-once,
    DBOS's default). Transactional: the workflow calls a no-op datasource transaction
    (`@ds.transaction()`, which replaced `@DBOS.transaction` in DBOS 3: its output is recorded in
    the same transaction, so it runs exactly once). With `handler_s`, the plain body first awaits
    that long (io_bound.py). The jobs are enqueued by a DBOS process that
    listens to no queue, which is then destroyed; processing is timed from the launch of a second
    DBOS process, which dequeues them, until every workflow has run.
    """
    from dbos import DBOS, AsyncSQLAlchemyDatasource

    if engine == "postgresql":
        await recreate_database("bench_dbos")
        await recreate_database("bench_dbos_app")
        system_url, app_url = db_url("bench_dbos"), db_url("bench_dbos_app")
    else:
        stamp = time.monotonic_ns()
        system_url = f"sqlite:///{folder}/dbos-{stamp}.db"
        app_url = f"sqlite+aiosqlite:///{folder}/dbos-app-{stamp}.db"
    config: Any = {"name": "seawall-bench", "system_database_url": system_url}
    config["log_level"] = "ERROR"
    done = 0
    lock = threading.Lock()
    DBOS(config=config)
    datasource = await AsyncSQLAlchemyDatasource.create(app_url) if transactional else None
    if datasource is not None:
        # Created on this loop; its workflows run on DBOS's own loop, which opens fresh connections.
        await datasource.engine.dispose()
    if datasource is not None:

        @datasource.transaction()
        async def noop_tx(i: int) -> None:
            del i

        @DBOS.workflow()
        async def noop(i: int) -> None:
            nonlocal done
            await noop_tx(i)
            with lock:
                done += 1

    else:

        @DBOS.workflow()
        async def noop(i: int) -> None:
            nonlocal done
            del i
            if handler_s:
                await asyncio.sleep(handler_s)
            with lock:
                done += 1

    try:
        DBOS.listen_queues([])
        DBOS.launch()
        queue = await DBOS.register_queue_async(
            "bench", worker_concurrency=concurrency, polling_interval_sec=poll_s
        )
        enqueue = await concurrently(jobs, lambda i: queue.enqueue_async(noop, i))
        destroy_dbos(DBOS, registry=False)
        instance = DBOS(config=config)
        started = time.perf_counter()
        DBOS.launch()
        # Workflows run on this loop (DBOS's "main loop"); their asyncio.to_thread calls go to
        # the executor of the DBOS instance that last configured it, which must be this one.
        await DBOS._configure_asyncio_thread_pool()
        # Finished once every body ran and DBOS recorded every outcome (no workflow active).
        while done < jobs or instance._active_workflows_set.activeList():
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
    finally:
        destroy_dbos(DBOS, registry=True)
        if datasource is not None:
            await datasource.engine.dispose()
        if engine == "postgresql":
            await drop_database("bench_dbos")
            await drop_database("bench_dbos_app")
    return {"enqueue": enqueue, "process": jobs / elapsed}


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
    parser.add_argument(
        "--pgqueuer-jobs", type=int, default=50_000, help="jobs per round for PgQueuer's drain"
    )
    parser.add_argument(
        "--pgqueuer-seconds",
        type=float,
        default=10.0,
        help="length of PgQueuer's enqueue-and-dequeue run (its benchmark's default is 30)",
    )
    parser.add_argument(
        "--dbos-poll-ms", type=float, default=DBOS_POLL_MS, help="DBOS queue polling interval"
    )
    parser.add_argument(
        "--dbos-concurrency", type=int, default=64, help="DBOS queue worker_concurrency"
    )
    parser.add_argument("--skip", nargs="*", default=[], help="systems to leave out (by prefix)")
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="run only these systems (by prefix, e.g. 'seawall' or 'seawall postgresql tx-ack')",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    table: dict[str, list[Result]] = {}

    def wanted(name: str) -> bool:
        if args.only is not None and not any(name.startswith(p) for p in args.only):
            return False
        return not any(name.startswith(prefix) for prefix in args.skip)

    for engine, transactional in SEAWALL_ROWS:
        name = f"seawall {engine}" + (" tx-ack" if transactional else "")
        if not wanted(name):
            continue
        print(f"{name}, {args.jobs} jobs x {args.rounds} ...")
        with tempfile.TemporaryDirectory() as tmp:
            if engine == "postgresql":
                await recreate_database(SEAWALL_DATABASE)
                url = db_url(SEAWALL_DATABASE)
            else:
                url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            try:
                table[name] = await seawall_rounds(url, args.jobs, args.rounds, transactional)
            finally:
                if engine == "postgresql":
                    await drop_database(SEAWALL_DATABASE)
    if wanted("procrastinate"):
        print(f"procrastinate, {args.peer_jobs} jobs x {args.rounds} ...")
        table["procrastinate"] = await procrastinate_rounds(args.peer_jobs, args.rounds)
    if wanted("hookrelay"):
        print(f"hookrelay, {args.peer_jobs} jobs x {args.rounds} ...")
        table["hookrelay"] = await hookrelay_rounds(args.peer_jobs, args.rounds)
    if wanted("pgqueuer"):
        print(
            f"PgQueuer, drain of {args.pgqueuer_jobs} jobs and {args.pgqueuer_seconds:.0f} s of "
            f"1 enqueuer + {PGQ_DEQUEUERS} dequeuers x {args.rounds} ..."
        )
        table.update(await pgqueuer_rounds(args.pgqueuer_jobs, args.rounds, args.pgqueuer_seconds))
    poll_s = args.dbos_poll_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:
        for engine in ("postgresql", "sqlite"):
            for transactional in (False, True):
                name = f"dbos {engine}" + (" transaction" if transactional else "")
                if not wanted(name):
                    continue
                print(f"{name}, {args.peer_jobs} jobs x {args.rounds} ...")
                table[name] = [
                    await dbos_round(
                        engine, tmp, args.peer_jobs, transactional, poll_s, args.dbos_concurrency
                    )
                    for _ in range(args.rounds)
                ]

    print()
    print(f"{'system':28} {'enqueue/s':>10} {'batch enq/s':>12} {'processed/s':>12}")
    for name, results in table.items():
        print(
            f"{name:28} {show(median(results, 'enqueue')):>10} "
            f"{show(median(results, 'enqueue_batch')):>12} {show(median(results, 'process')):>12}"
        )
    print()
    pairs = [
        (ours, peer)
        for ours in ("seawall postgresql", "seawall postgresql tx-ack", "seawall sqlite")
        for peer in ("procrastinate", "hookrelay", "pgqueuer drain", "pgqueuer 1 enq + 5 deq")
    ]
    pairs += [
        ("seawall postgresql", "dbos postgresql"),
        ("seawall postgresql tx-ack", "dbos postgresql transaction"),
        ("seawall sqlite", "dbos sqlite"),
        ("seawall sqlite tx-ack", "dbos sqlite transaction"),
    ]
    for ours, peer in pairs:
        if ours in table and peer in table:
            mine, theirs = median(table[ours], "process"), median(table[peer], "process")
            if mine and theirs:
                print(f"processed/s {ours} / {peer}: {mine / theirs:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
