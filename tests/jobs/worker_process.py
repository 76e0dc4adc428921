"""A worker process for the crash and drain tests: records each job in an `effects` table
(UNIQUE job_id) inside the handler's transaction, then prints its counters as JSON.

Usage: python worker_process.py STORE_URL MODE [--sleep S] [--visibility S] [--concurrency N]
                                [--barrier]
MODE is `idle` (stop when no job is ready) or `drain` (stop when no job is pending at all,
waiting out the leases of dead workers) or `forever`, or `signals` (run until SIGTERM).
With --barrier the process prints `ready` and starts only when a line arrives on stdin, so
several processes begin together.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from seawall.jobs import Job, Queue, Worker
from seawall.resilience import Constant
from seawall.store import Tx, open_store

QUEUE = "crash"


async def _pending(worker: Worker) -> bool:
    async with worker.store.read() as tx:
        return await tx.fetchval("SELECT 1 FROM seawall_jobs WHERE state = 0 LIMIT 1") is not None


async def main(argv: list[str]) -> None:
    """Run one worker process until its mode says stop."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("mode", choices=["idle", "drain", "forever", "signals"])
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--visibility", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--barrier", action="store_true", help="print ready, wait for a stdin line")
    args = parser.parse_args(argv)
    store = open_store(args.url)
    queue = Queue(store)
    worker = Worker(
        store,
        queue=queue,
        concurrency=args.concurrency,
        batch_size=args.batch,
        visibility_timeout=args.visibility,
        poll_interval=0.2,
        backoff=Constant(0.0),
        transaction_group=args.group,
        grace_period=10.0,
    )

    @worker.handler(QUEUE)
    async def record(job: Job, tx: Tx) -> None:
        await tx.execute("INSERT INTO effects (job_id) VALUES (?)", (job.id,))
        if args.sleep:
            await asyncio.sleep(args.sleep)

    if args.barrier:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    if args.mode == "idle":
        await worker.run_until_idle()
    elif args.mode == "signals":
        worker.install_signal_handlers()
        print("ready", flush=True)
        await worker.run()
    else:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        while args.mode == "forever" or await _pending(worker):
            await asyncio.sleep(0.2)
        stop.set()
        await task
    print(json.dumps({"processed": worker.processed, "lease_lost": worker.lease_lost}))
    sys.stdout.flush()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
