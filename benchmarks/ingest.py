"""Webhook ingestion throughput: wrk against four servers, same connections, one run.

    .venv/bin/python benchmarks/ingest.py [--duration 10] [--connections 32] [--only a,b,c,d]

(a) a bare Starlette endpoint that reads the body and stores nothing;
(b) seawall's receiver: guide scheme (hmac-timestamp), SQLite with durable commits
    (WAL, synchronous=FULL): the inbox row and its processing job commit before the 200;
(c) hookrelay's FastAPI router on its SQLite backend, with the same HMAC check;
(d) seawall's receiver on PostgreSQL (a private schema, dropped afterwards).

Every server runs under uvicorn (uvloop, httptools) in one process of its own; the worker is
off (this measures receiving). wrk cannot compute HMACs in Lua, so distinct events are signed
up front (tolerance one day) and each wrk thread cycles through its own share of them; a run
that used more requests than there are events reports the wrap (then some were duplicates).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # sibling scripts (e.g. benchmarks/queue.py) must not shadow the stdlib
PATH = "/api/webhooks/payment-provider"
SECRET = "bench-secret-0123456789abcdef"
TOLERANCE_S = 86_400.0
POSTGRES_URL = os.environ.get(
    "SEAWALL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
WARMUP_EVENTS = 60_000

LUA = r"""
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local file, first, last = args[1], tonumber(args[2]), tonumber(args[3])
  local threads = tonumber(args[4])
  reqs = {}
  local n = 0
  for line in io.lines(file) do
    if n >= first and n < last and (n % threads) == tid then
      local ts, sig, body = line:match("([^\t]*)\t([^\t]*)\t(.*)")
      reqs[#reqs + 1] = wrk.format("POST", args[5], {
        ["content-type"] = "application/json", ["x-timestamp"] = ts, ["x-signature"] = sig
      }, body)
    end
    n = n + 1
  end
  idx = 0
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end
"""


# -- servers (run in child processes) -----------------------------------------------------------


def bare_app() -> Any:
    """(a): read the body, answer like the guide, store nothing."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def receive(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"received": True})

    return Starlette(routes=[Route(PATH, receive, methods=["POST"])])


def seawall_app(store_url: str) -> Any:
    """(b) and (d): the service app with the guide's endpoint and no worker."""
    from seawall.config import parse_config
    from seawall.service.app import build_app

    config = parse_config(
        {
            "store": {"url": store_url},
            "webhooks": [
                {
                    "source": "payment-provider",
                    "path": PATH,
                    "scheme": "hmac-timestamp",
                    "secrets": [f"literal:{SECRET}"],
                    "tolerance_s": TOLERANCE_S,
                }
            ],
        }
    )
    return build_app(config, with_worker=False)


def hookrelay_app(db_path: str) -> Any:
    """(c): hookrelay's FastAPI router on its SQLite backend, with the guide's HMAC check."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from hookrelay.backends.sqlite import SQLiteBackend
    from hookrelay.fastapi import create_webhook_router
    from sqlalchemy.ext.asyncio import create_async_engine

    backend = SQLiteBackend(create_async_engine(f"sqlite+aiosqlite:///{db_path}"))
    key = SECRET.encode()

    def verify(body: bytes, headers: Any) -> bool:
        ts, sig = headers.get("x-timestamp"), headers.get("x-signature")
        if not ts or not sig or not ts.isdigit() or abs(time.time() - int(ts)) > TOLERANCE_S:
            return False
        expected = hmac.new(key, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, sig)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await backend.init_schema()
        yield

    app = FastAPI(lifespan=lifespan)
    app.include_router(
        create_webhook_router(
            backend=backend,
            source="payment-provider",
            path=PATH,
            verify_signature=verify,
            idempotency_key=lambda payload: str(payload["id"]),
        )
    )
    return app


def serve(kind: str, port: int, target: str) -> None:
    """Child process entry: build the app of `kind` and serve it."""
    import uvicorn

    apps = {"bare": bare_app, "seawall": seawall_app, "hookrelay": hookrelay_app}
    app = apps[kind](target) if kind != "bare" else bare_app()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


# -- driver ---------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_events(path: Path, count: int) -> None:
    """`count` distinct guide-signed events, one `ts<TAB>signature<TAB>body` line each."""
    key = SECRET.encode()
    ts = str(int(time.time()))
    prefix = ts.encode() + b"."
    with path.open("w") as out:
        for i in range(count):
            body = json.dumps(
                {
                    "id": f"evt_{i:08d}",
                    "type": "payment.completed",
                    "data": {"amount": 1000 + i % 97, "currency": "JPY", "order_id": f"o{i}"},
                },
                separators=(",", ":"),
            )
            sig = hmac.new(key, prefix + body.encode(), hashlib.sha256).hexdigest()
            out.write(f"{ts}\t{sig}\t{body}\n")


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Block until the server answers any HTTP request."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited during startup")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start within 30 s")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(
    port: int,
    script: Path,
    events: Path,
    first: int,
    last: int,
    args: argparse.Namespace,
    duration: float,
) -> dict[str, float]:
    """One wrk run; req/s, p50, p99 (ms), total requests and non-2xx answers."""
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{round(duration)}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        str(events),
        str(first),
        str(last),
        str(args.threads),
        PATH,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "total": total,
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": 0 if errors is None else 1,
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(
    kind: str, target: str, events: Path, script: Path, n_events: int, args: argparse.Namespace
) -> dict[str, float]:
    """Start one server, warm it up, measure, stop it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--target", target],
        cwd=ROOT,
    )
    try:
        wait_ready(port, proc)
        run_wrk(port, script, events, 0, WARMUP_EVENTS, args, args.warmup)
        cpu_before = cpu_seconds(proc.pid)
        result = run_wrk(port, script, events, WARMUP_EVENTS, n_events, args, args.duration)
        result["cpu_us"] = (cpu_seconds(proc.pid) - cpu_before) / result["total"] * 1e6
        result["wrapped"] = float(result["total"] > n_events - WARMUP_EVENTS)
        return result
    finally:
        proc.terminate()
        proc.wait(30)


async def _drop_schema(url: str) -> None:
    from seawall.store import open_store

    store: Any = open_store(url)
    await store.drop_schema()


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--only", default="a,b,c,d")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--target", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.target)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")

    with tempfile.TemporaryDirectory(prefix="seawall-ingest-") as tmp:
        work = Path(tmp)
        events, script = work / "events.tsv", work / "signed.lua"
        script.write_text(LUA)
        print(f"signing {args.events} events ...", flush=True)
        write_events(events, args.events)
        pg_schema = f"bench_{uuid.uuid4().hex[:10]}"
        runs = {
            "a": ("bare Starlette (stores nothing)", "bare", ""),
            "b": ("seawall, SQLite (durable)", "seawall", f"sqlite:///{work}/seawall.db"),
            "c": ("hookrelay FastAPI, SQLite", "hookrelay", f"{work}/hookrelay.db"),
            "d": ("seawall, PostgreSQL", "seawall", f"{POSTGRES_URL}?schema={pg_schema}"),
        }
        results: dict[str, dict[str, float]] = {}
        try:
            for key in args.only.split(","):
                label, kind, target = runs[key]
                print(f"({key}) {label} ...", flush=True)
                results[key] = bench(kind, target, events, script, args.events, args)
        finally:
            if "d" in args.only.split(","):
                asyncio.run(_drop_schema(runs["d"][2]))

    print(
        f"\nwrk, {args.connections} connections, {args.threads} threads, "
        f"{args.duration:g} s after {args.warmup:g} s warm-up, 127.0.0.1"
    )
    print(
        f"{'server':36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
        f"{'server CPU us/req':>18}"
    )
    for key, r in results.items():
        note = "  (wrapped: some repeats)" if r["wrapped"] else ""
        print(
            f"({key}) {runs[key][0]:32} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} "
            f"{r['non2xx']:8.0f} {r['cpu_us']:18.0f}{note}"
        )
    if "a" in results and "b" in results:
        print(f"(b)/(a) = {results['b']['rps'] / results['a']['rps']:.2f}  (target >= 0.5)")
    if "b" in results and "c" in results:
        print(f"(b)/(c) = {results['b']['rps'] / results['c']['rps']:.1f}x (target >= 20x)")
    if "d" in results and "a" in results:
        print(f"(d)/(a) = {results['d']['rps'] / results['a']['rps']:.2f}")


if __name__ == "__main__":
    main()
