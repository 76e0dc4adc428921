"""Fleet benchmark: 8 processes behind one shared (Redis) breaker vs 8 local breakers.

Run: `PYTHONPATH=src .venv/bin/python benchmarks/fleet.py` (options: --workers, --outage-start,
--outage-seconds, --run-seconds, --interval-ms, --threshold, --reset-ms, --redis,
--overhead-calls, --skip-overhead). Needs a Redis server (default redis://127.0.0.1:6379/0).

1. Outage: two FakeProviders, each in its own process, are healthy, then down (503) for
   `--outage-seconds`, then healthy again. Two fleets of `--workers` processes run side by side in
   the same run, each worker calling `GET /resources/{id}` every `--interval-ms` through a
   consecutive breaker (`--threshold` failures, open for `--reset-ms`): one fleet shares its
   breaker through `SharedBreakerStore`, the other keeps a local breaker per process. Reported per
   fleet: calls that reached the provider before every worker had seen the breaker open, calls
   that reached it during the outage (all answered 503), calls rejected by the breaker, and the
   recovery time (from the outage's end to each worker's first success: fastest, slowest).
2. Overhead: the success path of a healthy CLOSED breaker (consecutive and ratio mode),
   `breaker.call(fn)` in a loop, with the in-memory store and with `SharedBreakerStore` (its sync
   thread running): ns per call.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from seawall import CircuitBreaker, CircuitOpenError
from seawall.fleet import SharedBreakerStore
from seawall.testing import FakeProvider
from seawall.testing.fake_plan import FaultPlan, Outage, RouteFaults


def _serve(plan: FaultPlan, ready: Any, stop: Any) -> None:
    """Run one FakeProvider until `stop` is set; report (url, time the plan was installed)."""
    with FakeProvider(plan) as provider:
        provider.set_plan(plan)  # outage windows count from here
        ready.put((provider.url, time.time()))
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
    namespace: str


class _ServerError(Exception):
    pass


async def _work(job: _Job) -> dict[str, Any]:
    store = (
        SharedBreakerStore(job.redis_url, namespace=job.namespace, sync_interval_s=0.1)
        if job.mode == "shared"
        else None
    )
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


def _worker(job: _Job, results: Any) -> None:
    results.put(asyncio.run(_work(job)))


def outage(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    ctx = mp.get_context("spawn")
    end = args.outage_start + args.outage_seconds
    plan = FaultPlan(default=RouteFaults(outages=(Outage(start_s=args.outage_start, end_s=end),)))
    stop, ready = ctx.Event(), ctx.Queue()
    servers = [ctx.Process(target=_serve, args=(plan, ready, stop)) for _ in range(2)]
    for server in servers:
        server.start()
    endpoints = [ready.get(timeout=30) for _ in servers]
    results = ctx.Queue()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    workers = []
    for mode, (url, t0) in zip(("shared", "local"), endpoints, strict=True):
        job = _Job(
            mode,
            url,
            t0,
            args.outage_start,
            end,
            args.run_seconds,
            args.interval_ms / 1000,
            args.threshold,
            args.reset_ms,
            args.redis,
            namespace,
        )
        workers += [ctx.Process(target=_worker, args=(job, results)) for _ in range(args.workers)]
    for worker in workers:
        worker.start()
    rows = [results.get(timeout=args.run_seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
    stop.set()
    for server in servers:
        server.join()
    summary: dict[str, dict[str, Any]] = {}
    for mode in ("shared", "local"):
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
        for label in ("in-memory", "shared"):
            store = (
                SharedBreakerStore(args.redis, namespace=f"bench-{uuid.uuid4().hex[:8]}")
                if label == "shared"
                else None
            )
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
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--outage-start", type=float, default=2.0)
    parser.add_argument("--outage-seconds", type=float, default=5.0)
    parser.add_argument("--run-seconds", type=float, default=10.0)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--threshold", type=int, default=20)
    parser.add_argument("--reset-ms", type=float, default=1000.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--overhead-calls", type=int, default=200_000)
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    print(
        f"{args.workers} workers per fleet, one call every {args.interval_ms:g} ms each; "
        f"breaker: {args.threshold} consecutive failures, open {args.reset_ms:g} ms; "
        f"outage {args.outage_start:g}..{args.outage_start + args.outage_seconds:g} s "
        f"of {args.run_seconds:g} s"
    )
    summary = outage(args)
    print(
        f"{'fleet':<8}{'sent before trip':>18}{'sent in outage':>16}{'rejected':>10}"
        f"{'ok':>8}{'recovery (first, last worker)':>32}"
    )
    for mode, row in summary.items():
        recovery = f"{_fmt(row['recovery_min_s'])}, {_fmt(row['recovery_max_s'])}"
        print(
            f"{mode:<8}{row['sent_before_trip']:>18}{row['sent_outage']:>16}"
            f"{row['rejected']:>10}{row['ok']:>8}{recovery:>32}"
        )
    local = summary["local"]["sent_outage"]
    ratio = summary["shared"]["sent_outage"] / local if local else float("nan")
    print(f"calls sent during the outage, shared / local: {ratio:.3f} (goal <= 0.200)")
    if not args.skip_overhead:
        ns = overhead(args)
        for mode in ("consecutive", "ratio"):
            print(
                f"success path, breaker.call(fn), {mode}: in-memory "
                f"{ns[mode + ' in-memory']:.0f} ns/call, shared {ns[mode + ' shared']:.0f} ns/call"
            )


if __name__ == "__main__":
    main()
