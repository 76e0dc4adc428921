"""Handlers that await I/O: how much of their concurrency each queue shape delivers.

Every job's handler awaits `asyncio.sleep(--handler-ms)` (a call to another service), then
writes one effect row. The ideal rate is concurrency / handler time. Shapes:

- `tx`: `handler(job, tx)`, the default transactional shape (effects and ack in one transaction,
  grouped up to 16 jobs a transaction);
- `tx-ungrouped`: the same with `transaction_group=1`;
- `commit-block`: `handler(run)` awaiting first, then `async with run.commit() as tx:` for the
  effect (effects and ack atomic, no transaction open during the wait);
- `plain`: `handler(job)`, at-least-once (effect and ack in separate commits);
- `procrastinate`: the same async handler as a procrastinate task (at-least-once; its own database);
- `pgqueuer`: the same async handler as a PgQueuer entrypoint (asyncpg, one dequeuer with batch
  size 10, the entrypoint's `concurrency_limit` set to the concurrency, drain mode; at-least-once;
  its own database);
- `dbos`: the same async handler as the body of a DBOS workflow on a queue with
  `worker_concurrency` set to the concurrency and `polling_interval_sec` 0.05 (`--dbos-poll-ms`;
  DBOS's default is 1 s); at-least-once; PostgreSQL (its own database) and, at 16, SQLite;
- `webhook-tx` and `webhook-commit-block`: the same handler as a webhook handler, `handler(event,
  tx)` or `@on(..., commit_block=True)` with `handler(event, run)`: stored events processed by
  the webhook pipeline (inbox mark, effect and ack atomic in both).

The peers' handlers only await (they write no effect row, as procrastinate's never did). DBOS on
SQLite is compared with DBOS on SQLite; every other ratio is to the peer on PostgreSQL.

    .venv/bin/python benchmarks/io_bound.py [--jobs 400] [--handler-ms 50] [--rounds 3]
        [--dbos-poll-ms 50] [--shapes commit-block,webhook-commit-block] [--engines postgresql]
        [--concurrency 64]

`--shapes`, `--engines` and `--concurrency` run a subset (comma-separated); a peer left out
shows `-` in its ratio column. `CPU µs/job` is this process's CPU time over the timed part, per
job: seawall's worker, or the peer's in-process worker (not DBOS's, not PostgreSQL's).
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
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import psycopg

from seawall.jobs import Job, JobRun, Queue, Worker
from seawall.store import Store, Tx, open_store


class Rate(NamedTuple):
    """One round's outcome: jobs per second, and the benchmark process's CPU per job (the
    worker's, and for the peers their in-process worker's; None where not measured)."""

    per_s: float
    cpu_us: float | None


class Measured:
    """Wall and process CPU time of the timed part of a round."""

    def __enter__(self) -> Measured:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rate(self, jobs: int) -> Rate:
        """The round's rate and CPU per job."""
        return Rate(jobs / self.wall, self.cpu / jobs * 1e6)


BASE_URL = os.environ.get("SEAWALL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def db_url(name: str) -> str:
    """The server URL with another database name."""
    return urlunsplit(urlsplit(BASE_URL)._replace(path=f"/{name}"))


async def recreate_database(name: str) -> None:
    """Drop and create a benchmark database."""
    async with await psycopg.AsyncConnection.connect(BASE_URL, autocommit=True) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')


async def effects_store(url: str, concurrency: int) -> Store:
    """A migrated store (a pool of `concurrency + 8` on PostgreSQL) with an empty effects table."""
    store: Store = (
        open_store(url, max_size=concurrency + 8) if "postgresql" in url else open_store(url)
    )
    await store.migrate()
    async with store.transaction() as tx:
        await tx.execute("DROP TABLE IF EXISTS bench_effects")
        await tx.execute("CREATE TABLE bench_effects (job_id TEXT PRIMARY KEY)")
    return store


async def check_and_drop(store: Store, shape: str, expected: int) -> None:
    """Check that every job wrote its effect once, then drop the schema (or close the file)."""
    async with store.read() as tx:
        done = int(await tx.fetchval("SELECT COUNT(*) FROM bench_effects"))
    assert done == expected, f"{shape}: {done} effects for {expected} jobs"
    drop: Callable[[], Awaitable[Any]] | None = getattr(store, "drop_schema", None)
    if drop is not None:
        await drop()
    else:
        await store.close()


async def seawall_rate(url: str, shape: str, jobs: int, concurrency: int, handler_s: float) -> Rate:
    """Jobs per second for one shape on one store (a fresh schema or file each time)."""
    store = await effects_store(url, concurrency)
    queue = Queue(store)
    worker = Worker(
        store,
        queue=queue,
        concurrency=concurrency,
        transaction_group=1 if shape == "tx-ungrouped" else 16,
    )
    insert = "INSERT INTO bench_effects (job_id) VALUES (?)"

    async def in_tx(job: Job, tx: Tx) -> None:
        await asyncio.sleep(handler_s)
        await tx.execute(insert, (job.id,))

    async def commit_block(run: JobRun) -> None:
        await asyncio.sleep(handler_s)
        async with run.commit() as tx:
            await tx.execute(insert, (run.id,))

    async def plain(job: Job) -> None:
        await asyncio.sleep(handler_s)
        async with store.transaction() as tx:
            await tx.execute(insert, (job.id,))

    if shape in ("tx", "tx-ungrouped"):
        worker.register("io", in_tx)
    elif shape == "commit-block":
        worker.register("io", commit_block, commit_block=True)
    else:
        worker.register("io", plain, transactional=False)
    await queue.enqueue_many("io", [{"i": i} for i in range(jobs)])
    with Measured() as timed:
        await worker.run_until_idle()
    await check_and_drop(store, shape, jobs)
    return timed.rate(jobs)


async def webhook_rate(
    url: str, shape: str, events: int, concurrency: int, handler_s: float
) -> Rate:
    """Events per second through the webhook pipeline with an I/O-bound handler."""
    from seawall.webhooks import Router, Webhooks
    from seawall.webhooks.inbox import InboxEntry, insert_entries
    from seawall.webhooks.job_payload import event_job

    store = await effects_store(url, concurrency)
    router = Router()
    webhooks = Webhooks(store, [], router=router)
    insert = "INSERT INTO bench_effects (job_id) VALUES (?)"
    if shape == "webhook-tx":

        @router.on("bench.io")
        async def in_tx(event: Any, tx: Tx) -> None:
            await asyncio.sleep(handler_s)
            await tx.execute(insert, (event.id,))

        queue_name = webhooks.queue_name
    else:

        @router.on("bench.io", commit_block=True)
        async def block(event: Any, run: Any) -> None:
            await asyncio.sleep(handler_s)
            async with run.commit() as tx:
                await tx.execute(insert, (event.id,))

        queue_name = webhooks.io_queue_name
    now = store.clock.time()
    entries = [InboxEntry("bench", f"e{i}", "bench.io", b"{}", "{}", now) for i in range(events)]
    async with store.transaction() as tx:
        await insert_entries(tx, entries)
    await webhooks.queue.enqueue_many(queue_name, [event_job("bench", e.event_id) for e in entries])
    worker = Worker(store, queue=webhooks.queue, concurrency=concurrency)
    webhooks.attach(worker)
    with Measured() as timed:
        await worker.run_until_idle()
    await check_and_drop(store, shape, events)
    return timed.rate(events)


async def procrastinate_rate(jobs: int, concurrency: int, handler_s: float) -> Rate:
    """procrastinate with the same handler (its own database, worker concurrency as given)."""
    import procrastinate

    await recreate_database("bench_io_procrastinate")
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=db_url("bench_io_procrastinate"))
    )

    @app.task(queue="io", name="io")
    async def handle(i: int) -> None:
        del i
        await asyncio.sleep(handler_s)

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        await handle.batch_defer_async(*({"i": i} for i in range(jobs)))
        with Measured() as timed:
            await app.run_worker_async(
                queues=["io"], concurrency=concurrency, wait=False, install_signal_handlers=False
            )
    async with await psycopg.AsyncConnection.connect(BASE_URL, autocommit=True) as conn:
        await conn.execute('DROP DATABASE IF EXISTS "bench_io_procrastinate" WITH (FORCE)')
    return timed.rate(jobs)


async def pgqueuer_rate(jobs: int, concurrency: int, handler_s: float) -> Rate:
    """PgQueuer with the same handler (its own database; asyncpg, one dequeuer, batch size 10).

    The entrypoint's `concurrency_limit` is the concurrency; the dequeuer runs in drain mode.
    """
    import asyncpg
    from pgqueuer import AsyncpgDriver, PgQueuer, Queries
    from pgqueuer.types import QueueExecutionMode

    await recreate_database("bench_io_pgqueuer")
    conn = await asyncpg.connect(db_url("bench_io_pgqueuer"))
    try:
        queries = Queries(AsyncpgDriver(conn))
        await queries.install()
        await queries.enqueue(["io"] * jobs, [None] * jobs, [0] * jobs)
        worker_conn = await asyncpg.connect(db_url("bench_io_pgqueuer"))
        pgq = PgQueuer(AsyncpgDriver(worker_conn))
        done = 0

        @pgq.entrypoint("io", concurrency_limit=concurrency)
        async def handle(job: Any) -> None:
            nonlocal done
            del job
            await asyncio.sleep(handler_s)
            done += 1

        with Measured() as timed:
            await pgq.run(batch_size=10, mode=QueueExecutionMode.drain)
        await worker_conn.close()
        assert done == jobs, f"pgqueuer: {done} of {jobs}"
    finally:
        await conn.close()
    async with await psycopg.AsyncConnection.connect(BASE_URL, autocommit=True) as admin:
        await admin.execute('DROP DATABASE IF EXISTS "bench_io_pgqueuer" WITH (FORCE)')
    return timed.rate(jobs)


async def dbos_rate(
    engine: str, folder: str, jobs: int, concurrency: int, handler_s: float, poll_s: float
) -> Rate:
    """DBOS's queue with the same handler as a workflow body (queue_throughput.dbos_round)."""
    from queue_throughput import dbos_round

    result = await dbos_round(engine, folder, jobs, False, poll_s, concurrency, handler_s)
    return Rate(result["process"], None)


async def main() -> None:
    """Run every shape on both engines (and procrastinate) and print rates and % of ideal."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--handler-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--dbos-poll-ms", type=float, default=50.0, help="DBOS queue polling interval"
    )
    parser.add_argument("--shapes", help="only these shapes (comma-separated)")
    parser.add_argument("--engines", help="only these engines (comma-separated)")
    parser.add_argument("--concurrency", help="only these concurrencies (comma-separated)")
    args = parser.parse_args()
    wanted_shapes = None if args.shapes is None else set(args.shapes.split(","))
    wanted_engines = None if args.engines is None else set(args.engines.split(","))
    wanted_levels = (
        None if args.concurrency is None else {int(c) for c in args.concurrency.split(",")}
    )
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    handler_s = args.handler_ms / 1000
    folder = tempfile.mkdtemp(prefix="seawall-io-")
    cases: list[tuple[str, str, int]] = []
    for concurrency in (16, 64):
        engines = ("postgresql",) if concurrency == 64 else ("sqlite", "postgresql")
        for engine in engines:
            for shape in (
                "tx",
                "tx-ungrouped",
                "commit-block",
                "plain",
                "webhook-tx",
                "webhook-commit-block",
            ):
                cases.append((engine, shape, concurrency))
        cases.append(("postgresql", "procrastinate", concurrency))
        cases.append(("postgresql", "pgqueuer", concurrency))
        cases.append(("postgresql", "dbos", concurrency))
        if concurrency == 16:
            cases.append(("sqlite", "dbos", concurrency))
    cases = [
        (engine, shape, concurrency)
        for engine, shape, concurrency in cases
        if (wanted_shapes is None or shape in wanted_shapes)
        and (wanted_engines is None or engine in wanted_engines)
        and (wanted_levels is None or concurrency in wanted_levels)
    ]
    rates: dict[tuple[str, str, int], list[float]] = {case: [] for case in cases}
    cpu: dict[tuple[str, str, int], list[float]] = {case: [] for case in cases}
    for round_ in range(args.rounds):
        for engine, shape, concurrency in cases:
            jobs = args.jobs * (4 if concurrency == 64 else 1)
            if shape == "procrastinate":
                rate = await procrastinate_rate(jobs, concurrency, handler_s)
            elif shape == "pgqueuer":
                rate = await pgqueuer_rate(jobs, concurrency, handler_s)
            elif shape == "dbos":
                poll_s = args.dbos_poll_ms / 1000
                rate = await dbos_rate(engine, folder, jobs, concurrency, handler_s, poll_s)
            else:
                url = (
                    f"sqlite:///{folder}/io-{round_}-{shape}.db"
                    if engine == "sqlite"
                    else f"{BASE_URL}?schema=bench_io_{round_}_{shape.replace('-', '_')}"
                )
                run = webhook_rate if shape.startswith("webhook") else seawall_rate
                rate = await run(url, shape, jobs, concurrency, handler_s)
            rates[(engine, shape, concurrency)].append(rate.per_s)
            if rate.cpu_us is not None:
                cpu[(engine, shape, concurrency)].append(rate.cpu_us)
            print(
                f"round {round_ + 1}: {engine:10} {shape:20} c={concurrency:<3} "
                f"{rate.per_s:8.1f} jobs/s"
            )
    print()
    peers = ("procrastinate", "pgqueuer", "dbos")
    print(
        "| engine | shape | concurrency | jobs/s (median) | % of ideal | CPU µs/job | "
        + " | ".join(f"vs {peer}" for peer in peers)
        + " |"
    )
    print("|---|---|---:|---:|---:|---:|" + "---:|" * len(peers))
    for (engine, shape, concurrency), values in rates.items():
        median = statistics.median(values)
        ideal = concurrency / handler_s
        ratios = []
        for peer in peers:
            # DBOS on SQLite is compared with SQLite shapes; every other peer runs on PostgreSQL.
            same_engine = peer == "dbos" and (engine, peer, concurrency) in rates
            peer_engine = engine if same_engine else "postgresql"
            peer_rates = rates.get((peer_engine, peer, concurrency))
            ratios.append(f"{median / statistics.median(peer_rates):.2f}x" if peer_rates else "-")
        spent = cpu[(engine, shape, concurrency)]
        cpu_cell = f"{statistics.median(spent):,.0f}" if spent else "-"
        print(
            f"| {engine} | {shape} | {concurrency} | {median:,.0f} | {100 * median / ideal:.0f}% "
            f"| {cpu_cell} | {' | '.join(ratios)} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
