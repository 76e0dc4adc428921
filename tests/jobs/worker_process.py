"""A worker process for the crash and drain tests: records each job in an `effects` table
(UNIQUE job_id) inside the handler's transaction, then prints its counters as JSON.

Usage: python worker_process.py STORE_URL MODE [--sleep S] [--visibility S] [--concurrency N]
                                [--barrier] [--block] [--starts FILE] [--poison N]
MODE is `idle` (stop when no job is ready) or `drain` (stop when no job is pending at all,
waiting out the leases of dead workers) or `forever`, or `signals` (run until SIGTERM).
With --barrier the process prints `ready` and starts only when a line arrives on stdin, so
several processes begin together. With --block the handler is a commit-block one (it sleeps
before its block). --starts FILE appends each handler start's job id to FILE before anything
else; --poison N makes the handler of the job whose payload n is N kill its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from seawall.jobs import Job, JobRun, Queue, Worker
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
    parser.add_argument("--block", action="store_true", help="a commit-block handler")
    parser.add_argument("--starts", help="append each handler start's job id to this file")
    parser.add_argument("--poison", type=int, help="the payload n whose handler kills the process")
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

    def started(job: Job) -> None:
        if args.starts:
            with open(args.starts, "a", encoding="utf-8") as log:
                log.write(job.id + "\n")  # on disk before the handler's first await
        if args.poison is not None and job.payload["n"] == args.poison:
            os.kill(os.getpid(), signal.SIGKILL)

    async def record(job: Job, tx: Tx) -> None:
        started(job)
        await tx.execute("INSERT INTO effects (job_id) VALUES (?)", (job.id,))
        if args.sleep:
            await asyncio.sleep(args.sleep)

    async def block(run: JobRun) -> None:
        started(run.job)
        await asyncio.sleep(args.sleep)  # stands for a call to another service
        async with run.commit() as tx:
            await tx.execute("INSERT INTO effects (job_id) VALUES (?)", (run.id,))

    if args.block:
        worker.register(QUEUE, block, commit_block=True)
    else:
        worker.register(QUEUE, record)

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
