"""Per-call overhead of resilience policies on the success path: seawall against its peers.

Run: .venv/bin/python benchmarks/overhead.py [--calls N] [--repeats R]

Every case wraps the same trivial function (sync: returns 1; async: a coroutine that returns 1
without suspending), so the numbers are the policies' own cost. The cases run in interleaved
rounds (each round runs every case `calls` times, so drift in machine load hits all alike); the
median over the rounds is reported as ns per call, with the ratio to the plain call and to
seawall's full pipeline (retry + breaker + deadline, with async cancellation at the deadline).

The guide's twins are measured in the same rounds: `with_retry(fn, max_retries=3,
base_delay_ms=1000, max_delay_ms=10000)` (called afresh each time, as the guide's `withRetry` is)
and `CircuitBreaker(failure_threshold=5, reset_timeout_ms=30000).execute(fn)`. Their lines below
the tables give the ratios to tenacity (goal: tenacity at least 10x dearer than `with_retry`) and
to pybreaker and the breaker's own protocol (goal: `execute` at most 2 us).

A call that never suspends cannot be cancelled by a timer, so seawall arms its deadline timer only
once the callee suspends. The "suspends once" section measures that other path: the callee awaits
`asyncio.sleep(0)` once, so there the timer is armed and disarmed on every call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import pybreaker
import stamina
import tenacity
from purgatory import AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory

from seawall import with_retry
from seawall.resilience import CircuitBreaker, Pipeline, Retry

SyncCase = Callable[[], object]
AsyncCase = Callable[[], Awaitable[object]]


def target() -> int:
    return 1


async def atarget() -> int:
    return 1


def sync_cases() -> dict[str, SyncCase | None]:
    retry = Pipeline("bench-retry", retry=Retry())
    breaker = CircuitBreaker(name="bench")
    deadline = Pipeline("bench-deadline", deadline=25.0)
    full = Pipeline(
        "bench-full", retry=Retry(), breaker=CircuitBreaker(name="bench-full"), deadline=25.0
    )
    ten = tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=10),
        reraise=True,
    )(target)
    sta = stamina.retry(on=Exception, attempts=3)(target)
    pyb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
    purg = SyncCircuitBreakerFactory(default_threshold=5, default_ttl=30)

    def purgatory_call() -> object:
        with purg.get_breaker("bench"):
            return target()

    twin = CircuitBreaker(failure_threshold=5, reset_timeout_ms=30000, name="bench-twin")
    return {
        "plain call": target,
        "seawall retry": lambda: retry.execute(target),
        "seawall breaker": lambda: breaker.call(target),
        "with_retry (twin)": lambda: with_retry(
            target, max_retries=3, base_delay_ms=1000, max_delay_ms=10000
        ),
        "breaker.execute (twin)": lambda: twin.execute(target),
        "seawall deadline": lambda: deadline.execute(target),
        "seawall full pipeline": lambda: full.execute(target),
        "tenacity retry": ten,
        "stamina retry": sta,
        "pybreaker": lambda: pyb.call(target),
        "purgatory breaker": purgatory_call,
    }


def async_cases() -> dict[str, AsyncCase | None]:
    retry = Pipeline("bench-retry", retry=Retry())
    breaker = CircuitBreaker(name="bench")
    deadline = Pipeline("bench-deadline", deadline=25.0)
    full = Pipeline(
        "bench-full", retry=Retry(), breaker=CircuitBreaker(name="bench-full"), deadline=25.0
    )
    ten = tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=10),
        reraise=True,
    )(atarget)
    sta = stamina.retry(on=Exception, attempts=3)(atarget)
    purg = AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=30)

    async def purgatory_call() -> object:
        async with await purg.get_breaker("bench"):
            return await atarget()

    twin = CircuitBreaker(failure_threshold=5, reset_timeout_ms=30000, name="bench-twin")
    return {
        "plain call": atarget,
        "seawall retry": lambda: retry.execute_async(atarget),
        "seawall breaker": lambda: breaker.execute_async(atarget),
        "with_retry (twin)": lambda: with_retry(
            atarget, max_retries=3, base_delay_ms=1000, max_delay_ms=10000
        ),
        "breaker.execute (twin)": lambda: twin.execute(atarget),
        "seawall deadline": lambda: deadline.execute_async(atarget),
        "seawall full pipeline": lambda: full.execute_async(atarget),
        "tenacity retry": ten,
        "stamina retry": sta,
        "pybreaker": None,  # pybreaker's async support needs tornado; not measured
        "purgatory breaker": purgatory_call,
    }


async def asuspend() -> int:
    await asyncio.sleep(0)
    return 1


def suspending_cases() -> dict[str, AsyncCase | None]:
    full = Pipeline(
        "bench-full-s", retry=Retry(), breaker=CircuitBreaker(name="bench-full-s"), deadline=25.0
    )
    ten = tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=10),
        reraise=True,
    )(asuspend)
    return {
        "plain call": asuspend,
        "seawall full pipeline": lambda: full.execute_async(asuspend),
        "tenacity retry": ten,
    }


def measure_sync(cases: dict[str, SyncCase | None], calls: int, rounds: int) -> dict[str, float]:
    """Median ns per call of each case over interleaved rounds."""
    samples: dict[str, list[float]] = {name: [] for name, fn in cases.items() if fn is not None}
    for _ in range(rounds):
        for name, fn in cases.items():
            if fn is None:
                continue
            start = time.perf_counter_ns()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter_ns() - start) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


async def measure_async(
    cases: dict[str, AsyncCase | None], calls: int, rounds: int
) -> dict[str, float]:
    """Median ns per call of each case over interleaved rounds."""
    samples: dict[str, list[float]] = {name: [] for name, fn in cases.items() if fn is not None}
    for _ in range(rounds):
        for name, fn in cases.items():
            if fn is None:
                continue
            start = time.perf_counter_ns()
            for _ in range(calls):
                await fn()
            samples[name].append((time.perf_counter_ns() - start) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def report(title: str, results: dict[str, float | None]) -> None:
    plain = results["plain call"] or 1.0
    full = results["seawall full pipeline"] or 1.0
    print(f"\n{title}")
    print(f"{'case':<24}{'ns/call':>12}{'x plain':>10}{'x seawall full':>16}")
    for name, ns in results.items():
        if ns is None:
            print(f"{name:<24}{'n/a':>12}")
            continue
        print(f"{name:<24}{ns:>12,.0f}{ns / plain:>10.1f}{ns / full:>16.2f}")
    tenacity_ns = results.get("tenacity retry")
    if tenacity_ns:
        print(
            f"seawall full pipeline: {full / 1000:.2f} us/call; "
            f"tenacity retry alone is {tenacity_ns / full:.1f}x dearer"
        )
    twin_retry = results.get("with_retry (twin)")
    if twin_retry and tenacity_ns:
        print(
            f"with_retry (twin): {twin_retry / 1000:.2f} us/call; "
            f"tenacity is {tenacity_ns / twin_retry:.1f}x dearer (goal: at least 10x)"
        )
    twin_breaker = results.get("breaker.execute (twin)")
    if twin_breaker:
        line = f"CircuitBreaker.execute (twin): {twin_breaker / 1000:.2f} us/call (goal: <= 2 us)"
        own = results.get("seawall breaker")
        if own:
            line += f"; {twin_breaker / own:.1f}x the breaker's own call"
        pyb = results.get("pybreaker")
        if pyb:
            line += f"; pybreaker is {pyb / twin_breaker:.1f}x dearer"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000, help="calls per case and round")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds (median kept)")
    args = parser.parse_args()

    cases = sync_cases()
    for fn in cases.values():  # warm up
        for _ in range(2):
            if fn is not None:
                fn()
    measured = measure_sync(cases, args.calls, args.repeats)
    sync_results: dict[str, float | None] = {name: measured.get(name) for name in cases}

    async def run_async(cases: dict[str, AsyncCase | None], calls: int) -> dict[str, float | None]:
        for fn in cases.values():  # warm up
            if fn is not None:
                await fn()
        measured = await measure_async(cases, calls, args.repeats)
        return {name: measured.get(name) for name in cases}

    async_results = asyncio.run(run_async(async_cases(), args.calls))
    suspending = asyncio.run(run_async(suspending_cases(), max(1, args.calls // 5)))
    print(
        f"per-call overhead, success path; median of {args.repeats} interleaved rounds "
        f"x {args.calls:,} calls"
    )
    report("sync", sync_results)
    report("async", async_results)
    report("async, callee suspends once (timer armed on every call)", suspending)


if __name__ == "__main__":
    main()
