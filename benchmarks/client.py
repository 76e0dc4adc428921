"""Outbound client benchmark: seawall ApiClient vs raw aiohttp, raw httpx, tenacity+pybreaker.

Run: `.venv/bin/python benchmarks/client.py` (options: --requests, --rounds, --concurrency,
--fault-seconds, --skip-throughput, --skip-faults).

1. Throughput: one bare Starlette app under uvicorn in a subprocess; 64 concurrent callers POST a
   small JSON body; each contender runs `--rounds` rounds of `--requests` POSTs, interleaved, and
   the median requests/s is reported with ratios. seawall sends each POST with an Idempotency-Key,
   so its full default pipeline (deadline, retry, breaker) runs on every call.
2. Faults: the FakeProvider in a subprocess answers 20% of POSTs with 503 and is down (503) for
   5 s in the middle of the run. seawall and the tenacity+pybreaker wrapper, configured alike
   (3 attempts, full-jitter exponential backoff from 0.1 s, breaker opening after 20 consecutive
   failures for 1 s), run side by side in turn: goodput, attempts, requests that reached the
   provider during the outage, and the time from the outage's end to the first success.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import pybreaker
import tenacity

from seawall.http import ApiClient, ApiError, RawResponse, Timeouts
from seawall.resilience import CircuitBreaker, CircuitOpenError, Retry
from seawall.testing.fake_plan import FaultPlan, Outage, RouteFaults

BODY = {"name": "widget", "quantity": 3, "tags": ["a", "b"]}
PAYLOAD = json.dumps(BODY).encode()
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


# -- servers ------------------------------------------------------------------------------------


def serve_starlette(port: int) -> None:
    """The bare app of the throughput run: POST /items answers a small JSON document."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answer = b'{"id":"itm_1","status":"created"}'

    async def create(request: Request) -> Response:
        await request.body()
        return Response(answer, status_code=201, media_type="application/json")

    app = Starlette(routes=[Route("/items", create, methods=["POST"])])
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="httptools"
    )


def serve_provider(port: int) -> None:
    """The fault run's server: the FakeProvider (its plan is posted by the benchmark)."""
    from seawall.testing.fake_provider import serve_fake_provider

    serve_fake_provider("127.0.0.1", port, seed=7)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(kind: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start `kind` in a subprocess and wait until it accepts connections."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start on port {port}")


# -- throughput contenders ----------------------------------------------------------------------

Caller = Callable[[int], Awaitable[None]]


async def run_load(call: Caller, requests: int, concurrency: int) -> tuple[float, float]:
    """Run `requests` calls with `concurrency` callers; return requests/s and client CPU us/req.

    CPU time of this process per request is what the transport and pipeline cost; it is far less
    sensitive than wall time to other work on the machine.
    """
    counter = itertools.count()

    async def worker() -> None:
        while (n := next(counter)) < requests:
            await call(n)

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return requests / wall, (time.process_time() - cpu) / requests * 1e6


class TransientError(Exception):
    """A retryable failure in the tenacity+pybreaker wrapper."""


async def raw_aiohttp_post(session: aiohttp.ClientSession, url: str) -> None:
    """One POST with plain aiohttp, raising on a bad status."""
    async with session.post(url, data=PAYLOAD, headers=HEADERS) as resp:
        await resp.read()
        if resp.status >= 400:
            raise TransientError(resp.status)


def tenacity_pybreaker(
    session: aiohttp.ClientSession, url: str, breaker: pybreaker.CircuitBreaker
) -> Callable[[], Awaitable[None]]:
    """The common hand-rolled stack: tenacity retry around a pybreaker-guarded aiohttp POST."""

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=10),
        retry=tenacity.retry_if_exception_type((TransientError, aiohttp.ClientError)),
        reraise=True,
    )
    async def call() -> None:
        with breaker.calling():
            async with session.post(
                url, data=PAYLOAD, headers=HEADERS, timeout=aiohttp.ClientTimeout(total=25)
            ) as resp:
                await resp.read()
                if resp.status >= 500 or resp.status in (408, 425, 429):
                    raise TransientError(resp.status)

    return call


@dataclass
class Figures:
    """One contender's throughput figures over the interleaved rounds (medians)."""

    rate: float
    cpu_us: float
    paired_ratio: float
    """Median over rounds of this contender's rate / raw aiohttp's rate in the same round."""


async def throughput(base: str, requests: int, rounds: int, concurrency: int) -> dict[str, Figures]:
    """Median requests/s, client CPU per request and paired ratio of each contender."""
    url = f"{base}/items"
    connector_limit = concurrency
    results: dict[str, list[tuple[float, float]]] = {}
    keys = itertools.count()

    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connector_limit)) as session,
        httpx.AsyncClient(limits=httpx.Limits(max_connections=connector_limit)) as hx,
        ApiClient(base) as client,
    ):
        breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
        wrapped = tenacity_pybreaker(session, url, breaker)

        async def raw(n: int) -> None:
            await raw_aiohttp_post(session, url)

        async def via_httpx(n: int) -> None:
            resp = await hx.post(url, content=PAYLOAD, headers=HEADERS)
            resp.raise_for_status()

        async def seawall(n: int) -> None:
            key = f"k{next(keys)}"
            await client.post("/items", content=PAYLOAD, headers=HEADERS, idempotency_key=key)

        async def tenacity_wrapped(n: int) -> None:
            await wrapped()

        contenders: dict[str, tuple[Caller, int]] = {
            "raw aiohttp": (raw, requests),
            "seawall ApiClient": (seawall, requests),
            "tenacity+pybreaker": (tenacity_wrapped, requests),
            "raw httpx": (via_httpx, max(concurrency, requests // 4)),
        }
        for call, _ in contenders.values():  # warm up the pools
            await run_load(call, concurrency * 2, concurrency)
        for round_no in range(rounds):
            for name, (call, count) in contenders.items():
                rate, cpu_us = await run_load(call, count, concurrency)
                results.setdefault(name, []).append((rate, cpu_us))
                print(
                    f"  round {round_no + 1}: {name:<20} {rate:9,.0f} req/s "
                    f"{cpu_us:7.1f} us CPU/req",
                    flush=True,
                )
    raw_rates = [rate for rate, _ in results["raw aiohttp"]]
    return {
        name: Figures(
            rate=statistics.median(rate for rate, _ in runs),
            cpu_us=statistics.median(cpu for _, cpu in runs),
            paired_ratio=statistics.median(
                rate / raw for (rate, _), raw in zip(runs, raw_rates, strict=True)
            ),
        )
        for name, runs in results.items()
    }


class MemoryTransport:
    """A Transport answering at once from memory: isolates seawall's own per-call cost."""

    def __init__(self) -> None:
        self.answer = RawResponse(201, {"Content-Type": "application/json"}, b'{"id":"itm_1"}')

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: Timeouts,
        limit: int | None = None,
    ) -> RawResponse:
        """Return the canned answer."""
        return self.answer

    async def aclose(self) -> None:
        """Nothing to release."""


async def overhead(calls: int = 20_000, repeats: int = 7) -> dict[str, float]:
    """Microseconds per call that seawall adds on top of its transport (best of `repeats`)."""
    configs: dict[str, dict[str, Any]] = {
        "default pipeline (deadline, retry, breaker)": {},
        "no policies": {"deadline": None, "retry": None, "breaker": None},
    }
    best: dict[str, float] = {}
    for label, options in configs.items():
        client = ApiClient("http://127.0.0.1:9", transport=MemoryTransport(), **options)
        for _round in range(repeats):
            started = time.perf_counter()
            for _ in range(calls):
                await client.post("/items", content=PAYLOAD, headers=HEADERS, idempotency_key="k")
            per_call = (time.perf_counter() - started) / calls * 1e6
            best[label] = min(best.get(label, per_call), per_call)
    return best


# -- fault run ----------------------------------------------------------------------------------


@dataclass
class FaultStats:
    """What one contender achieved against the faulty provider."""

    ok: int = 0
    failed: int = 0
    rejected: int = 0
    successes_at: list[float] = field(default_factory=list)


def post_plan(base: str, plan: FaultPlan | None) -> None:
    """Install a plan on the provider (its outage clock starts now); None resets it."""
    if plan is None:
        request = urllib.request.Request(f"{base}/__reset", method="POST")
    else:
        data = json.dumps(plan.to_dict()).encode()
        request = urllib.request.Request(f"{base}/__plan", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=5) as resp:
        resp.read()


def counters(base: str) -> dict[str, Any]:
    """The provider's counters."""
    with urllib.request.urlopen(f"{base}/__counters", timeout=5) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


async def fault_run(
    base: str, name: str, seconds: float, outage: tuple[float, float], concurrency: int
) -> dict[str, Any]:
    """Drive one contender for `seconds` against 20% 503s plus an outage window."""
    faults = RouteFaults(status_503=0.2, retry_after_s=0, outages=(Outage(*outage),))
    await asyncio.to_thread(post_plan, base, None)
    stats = FaultStats()
    keys = itertools.count()
    rejected_pause = 0.05
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        breaker = pybreaker.CircuitBreaker(fail_max=20, reset_timeout=1.0)
        wrapped = tenacity_pybreaker(session, f"{base}/resources", breaker)
        seawall_breaker = CircuitBreaker(failure_threshold=20, reset_timeout_ms=1000)

        client = ApiClient(base, retry=Retry(max_attempts=3), breaker=seawall_breaker)

        async def seawall_call() -> None:
            await client.post(
                "/resources", content=PAYLOAD, headers=HEADERS, idempotency_key=f"k{next(keys)}"
            )

        await asyncio.to_thread(post_plan, base, FaultPlan(seed=7, default=faults))
        started = time.monotonic()

        async def worker() -> None:
            while time.monotonic() - started < seconds:
                try:
                    if name == "seawall":
                        await seawall_call()
                    else:
                        await wrapped()
                except (CircuitOpenError, pybreaker.CircuitBreakerError):
                    stats.rejected += 1
                    await asyncio.sleep(rejected_pause)
                    continue
                except (ApiError, TransientError, aiohttp.ClientError):
                    stats.failed += 1
                    continue
                stats.ok += 1
                stats.successes_at.append(time.monotonic() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await client.aclose()
    server = await asyncio.to_thread(counters, base)
    outcomes = server["requests"].get("POST /resources", {})
    end = outage[1]
    first_after = min((t for t in stats.successes_at if t >= end), default=float("nan"))
    return {
        "goodput": stats.ok / seconds,
        "ok": stats.ok,
        "failed": stats.failed,
        "rejected_by_breaker": stats.rejected,
        "attempts": sum(outcomes.values()),
        "during_outage": outcomes.get("outage", 0),
        "recovery_s": first_after - end,
    }


# -- main ---------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    """Run the selected parts and print the figures."""
    # The other contenders do not log; keep seawall's per-call records out of the measurement.
    logging.getLogger("seawall.http").setLevel(logging.ERROR)
    print("Per-call cost of seawall itself (in-memory transport, best of 7 x 20,000 calls):")
    for label, micros in (await overhead()).items():
        print(f"  {label:<45} {micros:6.1f} us/call", flush=True)
    if not args.skip_throughput:
        proc, base = start_server("starlette")
        try:
            print(
                f"Throughput: {args.concurrency} concurrent callers, {args.requests} POSTs per "
                f"round (httpx: a quarter of that), {args.rounds} rounds, median",
                flush=True,
            )
            rates = await throughput(base, args.requests, args.rounds, args.concurrency)
        finally:
            proc.terminate()
            proc.wait()
        raw = rates["raw aiohttp"].rate
        print(f"\nraw aiohttp spends {1e6 / raw:,.0f} us of wall time per request at this rate")
        print(
            "\n| contender | req/s (median) | vs raw aiohttp | paired ratio | client CPU us/req |"
        )
        print("|---|---:|---:|---:|---:|")
        for name, fig in rates.items():
            print(
                f"| {name} | {fig.rate:,.0f} | {fig.rate / raw:.2f}x | "
                f"{fig.paired_ratio:.2f}x | {fig.cpu_us:.1f} |"
            )
        seawall = rates["seawall ApiClient"].rate
        print(
            f"\nseawall / raw aiohttp = {seawall / raw:.3f}; seawall / raw httpx = "
            f"{seawall / rates['raw httpx'].rate:.1f}x; seawall / tenacity+pybreaker = "
            f"{seawall / rates['tenacity+pybreaker'].rate:.2f}x",
            flush=True,
        )
    if not args.skip_faults:
        proc, base = start_server("provider")
        seconds = args.fault_seconds
        outage = (seconds * 0.3, seconds * 0.3 + 5.0)
        try:
            print(
                f"\nFaults: 20% 503 plus an outage from {outage[0]:.1f}s to {outage[1]:.1f}s, "
                f"{seconds:.0f}s per contender, {args.concurrency} callers",
                flush=True,
            )
            rows = {}
            for name in ("seawall", "tenacity+pybreaker"):
                rows[name] = await fault_run(base, name, seconds, outage, args.concurrency)
                print(f"  {name}: {rows[name]}", flush=True)
        finally:
            proc.terminate()
            proc.wait()
        print("\n| contender | goodput/s | attempts | sent during outage | recovery after outage |")
        print("|---|---:|---:|---:|---:|")
        for name, row in rows.items():
            print(
                f"| {name} | {row['goodput']:,.0f} | {row['attempts']:,} | "
                f"{row['during_outage']:,} | {row['recovery_s']:.2f} s |"
            )


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--fault-seconds", type=float, default=15.0)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--serve", choices=["starlette", "provider"])
    parser.add_argument("--port", type=int, default=0)
    return parser.parse_args()


if __name__ == "__main__":
    options = parse_args()
    if options.serve == "starlette":
        serve_starlette(options.port)
    elif options.serve == "provider":
        serve_provider(options.port)
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        asyncio.run(main(options))
