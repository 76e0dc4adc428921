"""Fleet limits benchmark: a rate limit shared through Redis or PostgreSQL vs a local one.

Run: `PYTHONPATH=src .venv/bin/python benchmarks/fleet_limits.py` (options: --calls,
--local-calls, --paced-calls, --batches, --processes, --rate, --burst, --seconds, --redis,
--postgres, --skip-fleet).
Needs a Redis server and a PostgreSQL server (defaults as in benchmarks/fleet.py).

1. Overhead: `limiter.reserve()` in a loop on a limit that never refuses (rate and burst 1e9):
   the local `RateLimiter`, and `SharedRateLimiter` on each store with leases of `--batches`
   tokens (one round trip per batch). Median of 5 rounds, ns per call. Then from an event loop,
   `--paced-calls` calls each followed by 1 ms of awaited work: the time the loop is blocked per
   call and the round trips made on the loop's thread per call, with the lease refilled inline
   (`reserve()` on the loop: what `acquire_async` did before) and behind (`acquire_async` now).
2. Fleet: `--processes` processes, each with its own store connection and
   `SharedRateLimiter(rate=--rate, burst=--burst, processes=--processes)` (default batch), call
   `reserve()` in a loop for `--seconds` (sleeping 1 ms after a refusal). Reported: calls the
   whole fleet admitted, against the documented ceiling `burst + rate * seconds + processes *
   (batch - 1)`; and the same with a local `RateLimiter(--rate, --burst)` per process (what the
   fleet admits without sharing).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import threading
import time
import uuid
from typing import Any

from seawall.fleet import PostgresLimits, RedisLimits, SharedRateLimiter
from seawall.fleet.limits_store import LimitsStore
from seawall.resilience.errors import RateLimited
from seawall.resilience.ratelimit import RateLimiter


def _store(kind: str, args: argparse.Namespace, namespace: str) -> LimitsStore:
    if kind == "redis":
        return RedisLimits(args.redis, namespace=namespace)
    return PostgresLimits(args.postgres, namespace=namespace)


def _per_call_ns(limiter: RateLimiter, calls: int) -> float:
    rounds = []
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(calls):
            limiter.reserve()
        rounds.append((time.perf_counter_ns() - start) / calls)
    return statistics.median(rounds)


def _paced_on_loop(limiter: SharedRateLimiter, calls: int, prefetch: bool) -> tuple[float, float]:
    """(ns the event loop is blocked per call, round trips on the loop's thread per call):
    `calls` calls, each followed by 1 ms of awaited work (a request); median of 5 rounds. With
    `prefetch`, `acquire_async` (the lease refilled in the background); without, `reserve()`
    on the loop, which is what `acquire_async` did before."""
    loop_trips = [0]
    real = limiter.store._take

    def counted(*a: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            loop_trips[0] += 1
        return real(*a)

    limiter.store._take = counted  # type: ignore[method-assign]

    async def rounds() -> list[float]:
        found = []
        for _ in range(5):
            blocked = 0
            for _ in range(calls):
                start = time.perf_counter_ns()
                if prefetch:
                    await limiter.acquire_async()
                else:
                    limiter.reserve()
                blocked += time.perf_counter_ns() - start
                await asyncio.sleep(0.001)
            found.append(blocked / calls)
        return found

    ns = statistics.median(asyncio.run(rounds()))
    limiter.close()
    return ns, loop_trips[0] / (5 * calls)


def overhead(args: argparse.Namespace) -> list[tuple[str, int, float, float]]:
    local = _per_call_ns(RateLimiter(1e9, 1e9), args.local_calls)
    rows = [("local RateLimiter", 0, 0.0, local)]
    for kind in ("redis", "postgres"):
        store = _store(kind, args, f"bench-{uuid.uuid4().hex[:8]}")
        for batch in args.batches:
            limiter = SharedRateLimiter(store, f"overhead-{batch}", 1e9, 1e9, batch=batch)
            limiter.reserve()  # connect (and, on PostgreSQL, set up) outside the timing
            ns = _per_call_ns(limiter, args.calls)
            rows.append((f"{kind} SharedRateLimiter", batch, 1 / batch, ns))
        for batch in args.batches:
            for prefetch in (False, True):
                key = f"loop-{batch}-{prefetch}"
                limiter = SharedRateLimiter(store, key, 1e9, 1e9, batch=batch)
                ns, trips = _paced_on_loop(limiter, args.paced_calls, prefetch)
                label = "loop, refilled behind" if prefetch else "loop, refilled inline"
                rows.append((f"{kind} {label}", batch, trips, ns))
        store.close()
    return rows


def _fleet_worker(kind: str, args: argparse.Namespace, namespace: str, gate: Any) -> None:
    ready, go, start_at, results = gate
    if kind == "local":
        limiter = RateLimiter(args.rate, args.burst)
    else:
        limiter = SharedRateLimiter(
            _store(kind, args, namespace), "fleet", args.rate, args.burst, processes=args.processes
        )
        limiter.store.take("warm-up", 1.0, 1.0, 0, 0.0)  # connect outside the window
    ready.put(True)
    go.wait()
    begin = start_at.value
    time.sleep(max(0.0, begin - time.time()))
    admitted = 0
    end = begin + args.seconds
    while time.time() < end:
        try:
            limiter.reserve()
        except RateLimited:
            time.sleep(0.001)
        else:
            admitted += 1
    results.put(admitted)


def fleet(args: argparse.Namespace, kind: str) -> int:
    ctx = mp.get_context("spawn")
    gate = (ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue())
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    procs = [
        ctx.Process(target=_fleet_worker, args=(kind, args, namespace, gate))
        for _ in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        gate[0].get(timeout=120)
    gate[2].value = time.time() + 0.5
    gate[1].set()
    total = sum(gate[3].get(timeout=args.seconds + 60) for _ in procs)
    for proc in procs:
        proc.join()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--local-calls", type=int, default=200_000)
    parser.add_argument("--paced-calls", type=int, default=300)
    parser.add_argument(
        "--batches", type=lambda text: [int(b) for b in text.split(",")], default=[1, 10, 50]
    )
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--burst", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/test?schema=seawall_fleet_bench"
    )
    parser.add_argument("--skip-fleet", action="store_true")
    args = parser.parse_args()
    print("reserve() on a limit that never refuses, median of 5 rounds:")
    print(f"{'limiter':<32}{'batch':>6}{'caller trips/call':>18}{'ns/call':>10}")
    for label, batch, trips, ns in overhead(args):
        print(f"{label:<32}{batch or '-':>6}{trips:>18.3f}{ns:>10.0f}")
    if args.skip_fleet:
        return
    batch = SharedRateLimiter(RedisLimits(args.redis), "-", args.rate, processes=args.processes)
    ceiling = args.burst + args.rate * args.seconds + args.processes * (batch.batch - 1)
    print(
        f"{args.processes} processes for {args.seconds:g} s, limit {args.rate:g}/s, burst "
        f"{args.burst:g}, batch {batch.batch}: ceiling {ceiling:g} calls for the fleet"
    )
    for kind in ("redis", "postgres", "local"):
        total = fleet(args, kind)
        label = "local RateLimiter each" if kind == "local" else f"{kind} SharedRateLimiter"
        print(
            f"{label:<28}{total:>8} calls, {total / args.seconds:>7.1f}/s "
            f"({total / ceiling:.2f} x the ceiling)"
        )


if __name__ == "__main__":
    main()
