"""Fleet benchmark: 8 processes behind one shared breaker (Redis, PostgreSQL, DynamoDB) vs 8 local
ones.

Run: `PYTHONPATH=src .venv/bin/python benchmarks/fleet.py` (options: --fleets, --workers,
--outage-start, --outage-seconds, --run-seconds, --interval-ms, --threshold, --reset-ms, --redis,
--postgres, --dynamo, --overhead-calls, --skip-overhead). Needs a Redis server (default
redis://127.0.0.1:6379/0) and a PostgreSQL server (default postgresql://postgres@127.0.0.1/test,
tables in the schema `seawall_fleet_bench`) for the fleets that use them. `--fleets` may add
`dynamo` (not in the default run: moto is slow): `DynamoBreakerStore` on `--dynamo` (an endpoint
URL; default: a moto server started in its own process).

1. Outage: two FakeProviders, each in its own process, are healthy, then down (503) for
   `--outage-seconds`, then healthy again. The fleets (`--fleets`, default redis, postgres and
   local) of `--workers` processes each run side by side in the same run, each fleet with its own
   FakeProvider, each worker calling `GET /resources/{id}` every `--interval-ms` through a
   consecutive breaker (`--threshold` failures, open for `--reset-ms`): the redis fleet shares its
   breaker through `SharedBreakerStore`, the postgres fleet through `PostgresBreakerStore`, the
   local fleet keeps a local breaker per process. Reported per
   fleet: calls that reached the provider before every worker had seen the breaker open, calls
   that reached it during the outage (all answered 503), calls rejected by the breaker, and the
   recovery time (from the outage's end to each worker's first success: fastest, slowest).
2. Overhead: the success path of a healthy CLOSED breaker (consecutive and ratio mode),
   `breaker.call(fn)` in a loop, with the in-memory store and with each shared store (its sync
   thread running): ns per call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import multiprocessing as mp
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from seawall import CircuitBreaker, CircuitOpenError
from seawall.aws.local import local_aws
from seawall.fleet import DynamoBreakerStore, PostgresBreakerStore, SharedBreakerStore
from seawall.fleet.breaker_sync import SyncedBreakerStore
from seawall.fleet.dynamo_link import dynamo_client, ensure_fleet_table
from seawall.testing import FakeProvider
from seawall.testing.fake_plan import FaultPlan, Outage, RouteFaults


def _serve(plan: FaultPlan, ready: Any, go: Any, start_at: Any, stop: Any) -> None:
    """Run one FakeProvider until `stop` is set; install the plan at the common start time."""
    with FakeProvider(plan) as provider:
        ready.put(provider.url)
        go.wait()
        time.sleep(max(0.0, start_at.value - time.time()))
        provider.set_plan(plan)  # outage windows count from here
        stop.wait()


@dataclass(frozen=True)
class _Job:
    mode: str
    url: str
    t0: float
    outage_start: float
    outage_end: float
    run_seconds: float
    interval_s: float
    threshold: int
    reset_ms: float
    redis_url: str
    postgres_url: str
    dynamo_url: str
    namespace: str


class _ServerError(Exception):
    pass


_DYNAMO_TABLE = "seawall-fleet-bench"


def _store(
    mode: str, redis_url: str, postgres_url: str, namespace: str, dynamo_url: str = ""
) -> SyncedBreakerStore | None:
    if mode == "dynamo":
        return DynamoBreakerStore(
            _DYNAMO_TABLE, endpoint_url=dynamo_url, namespace=namespace, sync_interval_s=0.1
        )
    if mode == "redis":
        return SharedBreakerStore(redis_url, namespace=namespace, sync_interval_s=0.1)
    if mode == "postgres":
        return PostgresBreakerStore(postgres_url, namespace=namespace, sync_interval_s=0.1)
    return None


async def _work(job: _Job) -> dict[str, Any]:
    store = _store(job.mode, job.redis_url, job.postgres_url, job.namespace, job.dynamo_url)
    breaker = CircuitBreaker(job.threshold, job.reset_ms, name="provider", store=store)
    sent_before_trip = sent_outage = rejected = ok = 0
    tripped_seen = False
    first_success_after: float | None = None
    outage_end_wall = job.t0 + job.outage_end
    stop_at = job.t0 + job.run_seconds
    async with aiohttp.ClientSession() as session:

        async def fetch(i: int) -> None:
            async with session.get(f"{job.url}/resources/r{i % 50}") as response:
                await response.read()
                if response.status >= 500:
                    raise _ServerError(response.status)

        i = 0
        while True:
            now = time.time()
            if now >= stop_at:
                break
            i += 1
            try:
                await breaker.execute_async(fetch, i)
            except CircuitOpenError:
                rejected += 1
                tripped_seen = True
            except _ServerError:
                sent_outage += 1
                if not tripped_seen:
                    sent_before_trip += 1
            else:
                ok += 1
                if first_success_after is None and now >= outage_end_wall:
                    first_success_after = time.time() - outage_end_wall
            await asyncio.sleep(job.interval_s)
    if store is not None:
        store.close()
    return {
        "mode": job.mode,
        "sent_before_trip": sent_before_trip,
        "sent_outage": sent_outage,
        "rejected": rejected,
        "ok": ok,
        "recovery_s": first_success_after,
    }


def _worker(job: _Job, ready: Any, go: Any, start_at: Any, results: Any) -> None:
    """Start with every other process (however long spawning all of them took)."""
    ready.put(True)
    go.wait()
    job = dataclasses.replace(job, t0=start_at.value)
    time.sleep(max(0.0, job.t0 - time.time()))
    results.put(asyncio.run(_work(job)))


def outage(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    ctx = mp.get_context("spawn")
    end = args.outage_start + args.outage_seconds
    plan = FaultPlan(default=RouteFaults(outages=(Outage(start_s=args.outage_start, end_s=end),)))
    stop, go, ready, start_at = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Value("d", 0.0)
    servers = [
        ctx.Process(target=_serve, args=(plan, ready, go, start_at, stop)) for _ in args.fleets
    ]
    for server in servers:
        server.start()
    endpoints = [ready.get(timeout=30) for _ in servers]
    results = ctx.Queue()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    workers = []
    for mode, url in zip(args.fleets, endpoints, strict=True):
        job = _Job(
            mode,
            url,
            0.0,
            args.outage_start,
            end,
            args.run_seconds,
            args.interval_ms / 1000,
            args.threshold,
            args.reset_ms,
            args.redis,
            args.postgres,
            args.dynamo,
            namespace,
        )
        workers += [
            ctx.Process(target=_worker, args=(job, ready, go, start_at, results))
            for _ in range(args.workers)
        ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)
    start_at.value = time.time() + 0.5
    go.set()
    rows = [results.get(timeout=args.run_seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
    stop.set()
    for server in servers:
        server.join()
    summary: dict[str, dict[str, Any]] = {}
    for mode in args.fleets:
        mine = [r for r in rows if r["mode"] == mode]
        recoveries = [r["recovery_s"] for r in mine if r["recovery_s"] is not None]
        summary[mode] = {
            "sent_before_trip": sum(r["sent_before_trip"] for r in mine),
            "sent_outage": sum(r["sent_outage"] for r in mine),
            "rejected": sum(r["rejected"] for r in mine),
            "ok": sum(r["ok"] for r in mine),
            "recovery_min_s": min(recoveries) if recoveries else None,
            "recovery_max_s": max(recoveries) if len(recoveries) == len(mine) else None,
        }
    return summary


def overhead(args: argparse.Namespace) -> dict[str, float]:
    def fn() -> int:
        return 1

    out = {}
    modes: tuple[Literal["consecutive", "ratio"], ...] = ("consecutive", "ratio")
    for mode in modes:
        for label in ("local", *[f for f in args.fleets if f != "local"]):
            namespace = f"bench-{uuid.uuid4().hex[:8]}"
            store = _store(label, args.redis, args.postgres, namespace, args.dynamo)
            breaker = CircuitBreaker(5, name="overhead", mode=mode, store=store)
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter_ns()
                for _ in range(args.overhead_calls):
                    breaker.call(fn)
                best = min(best, (time.perf_counter_ns() - start) / args.overhead_calls)
            out[f"{mode} {label}"] = best
            if store is not None:
                store.close()
    return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fleets",
        type=lambda text: tuple(text.split(",")),
        default=("redis", "postgres", "local"),
        help="comma-separated: redis, postgres, dynamo, local (local: the baseline of the ratio)",
    )
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--outage-start", type=float, default=2.0)
    parser.add_argument("--outage-seconds", type=float, default=5.0)
    parser.add_argument("--run-seconds", type=float, default=10.0)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--threshold", type=int, default=20)
    parser.add_argument("--reset-ms", type=float, default=1000.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/test?schema=seawall_fleet_bench"
    )
    parser.add_argument("--dynamo", default="")
    parser.add_argument("--overhead-calls", type=int, default=200_000)
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if "dynamo" in args.fleets:
            if not args.dynamo:
                args.dynamo = stack.enter_context(local_aws(own_process=True))
            client = dynamo_client(None, args.dynamo, 5.0)
            ensure_fleet_table(client, _DYNAMO_TABLE)
            client.close()
        run(args)


def run(args: argparse.Namespace) -> None:
    print(
        f"{args.workers} workers per fleet, one call every {args.interval_ms:g} ms each; "
        f"breaker: {args.threshold} consecutive failures, open {args.reset_ms:g} ms; "
        f"outage {args.outage_start:g}..{args.outage_start + args.outage_seconds:g} s "
        f"of {args.run_seconds:g} s"
    )
    summary = outage(args)
    print(
        f"{'fleet':<10}{'sent before trip':>18}{'sent in outage':>16}{'rejected':>10}"
        f"{'ok':>8}{'recovery (first, last worker)':>32}"
    )
    for mode, row in summary.items():
        recovery = f"{_fmt(row['recovery_min_s'])}, {_fmt(row['recovery_max_s'])}"
        print(
            f"{mode:<10}{row['sent_before_trip']:>18}{row['sent_outage']:>16}"
            f"{row['rejected']:>10}{row['ok']:>8}{recovery:>32}"
        )
    local = summary.get("local", {}).get("sent_outage")
    for mode in summary:
        if mode != "local" and local:
            ratio = summary[mode]["sent_outage"] / local
            print(f"calls sent during the outage, {mode} / local: {ratio:.3f} (goal <= 0.200)")
    if not args.skip_overhead:
        ns = overhead(args)
        for mode in ("consecutive", "ratio"):
            cells = ", ".join(
                f"{label} {value:.0f} ns/call"
                for key, value in ns.items()
                for label in [key.split(" ", 1)[1]]
                if key.startswith(mode + " ")
            )
            print(f"success path, breaker.call(fn), {mode}: {cells}")


if __name__ == "__main__":
    main()
