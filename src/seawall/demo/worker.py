"""The demo's worker as its own process: `python -m seawall.demo.worker --store URL ...`.

Runs the payment charge and refund jobs and webhook processing against the demo's store until
SIGTERM, and writes its gateway counters to `--stats-file` every 0.2 s (the demo sums the files
of every worker it started, including ones it killed). The gateway key is read from the secret
reference in `--gateway-key` (default `env:SEAWALL_DEMO_GATEWAY_KEY`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from seawall.demo.runtime import DemoSettings, build_runtime
from seawall.store import open_store

__all__ = ["main", "run_worker"]


def _write_stats(path: Path, data: dict[str, object]) -> None:
    """Replace `path` atomically with `data` as JSON."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


async def run_worker(
    store_url: str,
    settings: DemoSettings,
    *,
    gateway_url: str,
    gateway_key: str,
    stats_file: Path | None,
) -> None:
    """Process demo jobs until SIGTERM or SIGINT, then stop gracefully."""
    store = open_store(store_url)
    runtime = build_runtime(store, settings, gateway_url=gateway_url, gateway_key=gateway_key)
    worker = runtime.worker
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def snapshot() -> dict[str, object]:
        return {
            "pid": os.getpid(),
            "gateway": runtime.service.stats.to_dict(),
            "worker": {
                "processed": worker.processed,
                "failed": worker.failed,
                "retried": worker.retried,
                "dead_lettered": worker.dead_lettered,
                "lease_lost": worker.lease_lost,
            },
        }

    async def report() -> None:
        while stats_file is not None:
            _write_stats(stats_file, snapshot())
            await asyncio.sleep(0.2)

    reporter = asyncio.create_task(report())
    try:
        await worker.run(stop)
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        if stats_file is not None:
            _write_stats(stats_file, snapshot())
        await runtime.aclose()
        await store.close()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the worker; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m seawall.demo.worker", description=__doc__)
    parser.add_argument("--store", required=True, help="sqlite:///path.db or postgresql://...")
    parser.add_argument("--gateway-url", required=True, help="the fake provider's base URL")
    parser.add_argument("--gateway-key", default="env:SEAWALL_DEMO_GATEWAY_KEY")
    parser.add_argument("--settings", default="{}", help="DemoSettings fields as JSON")
    parser.add_argument("--stats-file", type=Path, default=None)
    parser.add_argument("--log-file", type=Path, default=None, help="append log records here")
    args = parser.parse_args(argv)
    handler: logging.Handler = (
        logging.FileHandler(args.log_file) if args.log_file else logging.NullHandler()
    )
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s worker-{os.getpid()} %(name)s %(message)s")
    )
    root = logging.getLogger("seawall")
    root.addHandler(handler)
    root.propagate = False
    try:
        settings = DemoSettings(**json.loads(args.settings))
    except (TypeError, ValueError) as exc:
        print(f"invalid --settings: {exc}", file=sys.stderr)
        return 2
    asyncio.run(
        run_worker(
            args.store,
            settings,
            gateway_url=args.gateway_url,
            gateway_key=args.gateway_key,
            stats_file=args.stats_file,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
