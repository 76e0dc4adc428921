"""CommandService.publish_sync throughput and @idempotent overhead, on SQLite and PostgreSQL.

Run: `.venv/bin/python benchmarks/commands.py` (options: --commands, --calls, --rounds,
--concurrency, --only sqlite,postgresql).

Per engine, in one run, `--rounds` rounds each (medians reported):

1. publish_sync: `--commands` commands from `--concurrency` concurrent callers over 50 items
   (version -1, so every command is a new version: insert, projection into data and history,
   commit). Peer: a bare one-row INSERT per transaction, the floor cost of one durable commit on
   that engine; the ratio says what the command semantics cost on top of it. Both also report
   the process CPU time per operation, which shared, loaded machines disturb less than wall
   time.
2. @idempotent: `--calls` sequential calls of a trivial async function: undecorated, decorated
   with fresh keys (claim + complete: two commits), decorated with a repeated key (the replay
   path: one claim statement that finds the completed record, nothing written), and with
   `tx_arg=` inside the caller's own transaction (claim, effect and result share one commit).
   Reported as wall and CPU microseconds per call. Then `--calls` fresh keys from
   `--concurrency` concurrent callers, whose commits the engine can share, as calls/s.

SQLite runs on a temporary file (WAL, synchronous=FULL); PostgreSQL on a private schema of
SEAWALL_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test), dropped after.
"""

from __future__ import annotations

import sys

# `python benchmarks/commands.py` puts benchmarks/ first on sys.path, where sibling scripts
# (queue.py) would shadow stdlib modules; drop it before importing anything else.
if sys.path and sys.path[0].rstrip("/").endswith("benchmarks"):
    del sys.path[0]

import argparse
import asyncio
import os
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import urlparse

from seawall.commands import CommandInputModel, CommandService, InvokeContext
from seawall.idempotency import idempotent
from seawall.store import Store, Tx, open_store

PG_URL = os.environ.get("SEAWALL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CTX = InvokeContext(request_id="bench", source_ip="127.0.0.1", claims={"sub": "bench"})


def pg_reachable() -> bool:
    """True when the PostgreSQL server accepts TCP connections."""
    parsed = urlparse(PG_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 1):
            return True
    except OSError:
        return False


async def open_engine(engine: str, folder: str) -> Store:
    """A migrated store on a fresh file or schema."""
    if engine == "sqlite":
        store = open_store(f"sqlite:///{folder}/bench-{uuid.uuid4().hex[:8]}.db")
    else:
        store = open_store(f"{PG_URL}?schema=bench_{uuid.uuid4().hex[:10]}")
    await store.migrate()
    return store


async def dispose(store: Store) -> None:
    """Close the store, dropping a PostgreSQL schema."""
    drop = getattr(store, "drop_schema", None)
    if store.engine == "postgresql" and drop is not None:
        await drop()
    else:
        await store.close()


async def timed_concurrent(
    n: int, concurrency: int, op: Callable[[int], Awaitable[object]]
) -> tuple[float, float]:
    """Run `op(i)` for i < n from `concurrency` tasks; (operations/s, CPU us per operation)."""
    counter = iter(range(n))

    async def lane() -> None:
        for i in counter:
            await op(i)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6


async def bench_publish(
    store: Store, n: int, concurrency: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """((publish_sync commands/s, CPU us each), (bare INSERT transactions/s, CPU us each))."""
    service = CommandService(store)
    tag = uuid.uuid4().hex[:6]

    async def publish(i: int) -> object:
        item = CommandInputModel(
            pk=f"BENCH#{tag}",
            sk=f"item-{i % 50}",
            code=f"c{i % 50}",
            name="bench",
            version=-1,
            type="BENCH",
            attributes={"n": i, "payload": {"a": 1, "b": [1, 2, 3]}},
        )
        return await service.publish_sync(item, invoke_context=CTX)

    async with store.transaction() as tx:
        await tx.execute(
            f"CREATE TABLE IF NOT EXISTS bench_{tag} (id TEXT PRIMARY KEY, body TEXT NOT NULL)"
        )

    async def insert(i: int) -> object:
        async with store.transaction() as tx:
            return await tx.execute(
                f"INSERT INTO bench_{tag} (id, body) VALUES (?, ?)", (str(i), "x")
            )

    commands = await timed_concurrent(n, concurrency, publish)
    inserts = await timed_concurrent(n, concurrency, insert)
    return commands, inserts


async def bench_idempotent(store: Store, calls: int, concurrency: int) -> dict[str, float]:
    """Wall and CPU microseconds per call of each @idempotent path, and concurrent calls/s."""
    scope = f"bench-{uuid.uuid4().hex[:6]}"
    tag = uuid.uuid4().hex[:6]

    async def plain(key: str, amount: int) -> dict[str, int]:
        return {"amount": amount}

    async def effect(key: str, amount: int, tx: Tx) -> dict[str, int]:
        await tx.execute(f"INSERT INTO bench_fx_{tag} (id) VALUES (?)", (key,))
        return {"amount": amount}

    decorated = idempotent(store, key="key", scope=scope)(plain)
    with_tx = idempotent(store, key="key", scope=f"{scope}-tx", tx_arg="tx")(effect)
    async with store.transaction() as tx:
        await tx.execute(f"CREATE TABLE IF NOT EXISTS bench_fx_{tag} (id TEXT PRIMARY KEY)")

    async def bare_effect(i: int) -> object:
        async with store.transaction() as tx:
            return await tx.execute(f"INSERT INTO bench_fx_{tag} (id) VALUES (?)", (f"b{i}",))

    async def in_tx(i: int) -> object:
        async with store.transaction() as tx:
            return await with_tx(f"t{i}", 1, tx)

    async def per_call(fn: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(calls):
            await fn(i)
        return (
            (time.perf_counter() - start) / calls * 1e6,
            (time.process_time() - cpu) / calls * 1e6,
        )

    out: dict[str, float] = {}
    for name, fn in (
        ("plain", lambda i: plain(f"k{i}", 1)),
        ("fresh", lambda i: decorated(f"fresh-{i}", 1)),
        ("replay", lambda i: decorated("fresh-0", 1)),
        ("bare_effect", bare_effect),
        ("tx_arg", in_tx),
    ):
        out[name], out[f"{name}_cpu"] = await per_call(fn)
    out["concurrent"], out["concurrent_cpu"] = await timed_concurrent(
        calls, concurrency, lambda i: decorated(f"conc-{i}", 1)
    )
    return out


async def run_engine(engine: str, args: argparse.Namespace, folder: str) -> None:
    """Run both benchmarks on one engine and print medians."""
    publish: list[float] = []
    inserts: list[float] = []
    publish_cpu: list[float] = []
    insert_cpu: list[float] = []
    idem: list[dict[str, float]] = []
    for _ in range(args.rounds):
        store = await open_engine(engine, folder)
        try:
            (c, c_cpu), (i, i_cpu) = await bench_publish(store, args.commands, args.concurrency)
            publish.append(c)
            inserts.append(i)
            publish_cpu.append(c_cpu)
            insert_cpu.append(i_cpu)
            idem.append(await bench_idempotent(store, args.calls, args.concurrency))
        finally:
            await dispose(store)
    med = statistics.median
    print(f"\n== {engine} ({args.rounds} rounds, medians) ==")
    print(
        f"publish_sync          {med(publish):9.0f} commands/s  "
        f"({args.commands} commands, {args.concurrency} concurrent callers; "
        f"CPU {med(publish_cpu):.0f} us/command)"
    )
    print(
        f"bare INSERT+commit    {med(inserts):9.0f} tx/s        "
        f"(publish_sync runs at {med(publish) / med(inserts):.2f}x of this floor; "
        f"CPU {med(insert_cpu):.0f} us/tx)"
    )

    def m(name: str) -> float:
        return med([r[name] for r in idem])

    def row(label: str, name: str, note: str) -> None:
        print(f"{label:21} {m(name):9.1f} us/call     (CPU {m(name + '_cpu'):.0f} us/call; {note})")

    print(f"plain async call      {m('plain'):9.1f} us/call")
    row("@idempotent new key", "fresh", "claim + complete: two commits")
    row("@idempotent replay", "replay", "one claim statement finds the record")
    row("bare effect tx", "bare_effect", "one INSERT + commit, the floor for tx_arg")
    row("@idempotent tx_arg", "tx_arg", "claim + effect + result in one commit")
    print(
        f"@idempotent new key   {m('concurrent'):9.0f} calls/s     "
        f"({args.concurrency} concurrent callers share commits; "
        f"CPU {m('concurrent_cpu'):.0f} us/call)"
    )


async def main() -> None:
    """Parse options and run every engine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--only", default="sqlite,postgresql")
    args = parser.parse_args()
    engines = [e.strip() for e in args.only.split(",") if e.strip()]
    with tempfile.TemporaryDirectory() as folder:
        for engine in engines:
            if engine == "postgresql" and not pg_reachable():
                print(f"\n== postgresql: skipped, nothing listens at {PG_URL} ==")
                continue
            await run_engine(engine, args, folder)


if __name__ == "__main__":
    asyncio.run(main())
