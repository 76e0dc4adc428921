"""The demo's processes: the receiver's uvicorn, the workers it can SIGKILL, its log routing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from seawall.demo.options import DemoError, DemoOptions
from seawall.demo.runtime import DemoRuntime

__all__ = ["GATEWAY_KEY_ENV", "DemoWorkers", "QuietServer", "bind_free_port", "route_logs"]

GATEWAY_KEY_ENV = "SEAWALL_DEMO_GATEWAY_KEY"


def bind_free_port() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


@contextlib.contextmanager
def route_logs(log_file: Path | None) -> Iterator[None]:
    """Send seawall's log records to `log_file` (or nowhere) so they do not garble the display."""
    names = ("seawall", "uvicorn", "uvicorn.error")
    handler: logging.Handler = (
        logging.FileHandler(log_file) if log_file is not None else logging.NullHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    saved = [(logging.getLogger(n), logging.getLogger(n).propagate) for n in names]
    for logger, _ in saved:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, propagate in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate
        handler.close()


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the demo decides when the receiver stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class DemoWorkers:
    """The worker(s): one in this process, or subprocesses the demo can kill and restart."""

    def __init__(
        self,
        options: DemoOptions,
        runtime: DemoRuntime,
        store_url: str,
        gateway_url: str,
        gateway_key: str,
        stats_dir: Path,
        log_file: Path | None,
    ) -> None:
        self.log_file = log_file
        self.options = options
        self.runtime = runtime
        self.store_url = store_url
        self.gateway_url = gateway_url
        self.gateway_key = gateway_key
        self.stats_dir = stats_dir
        self.kills = 0
        self.started = 0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.options.worker_processes == 0:
            self._task = asyncio.create_task(self.runtime.worker.run(self._stop))
            self.started = 1
            return
        for _ in range(self.options.worker_processes):
            self._spawn()

    def _spawn(self) -> None:
        self.started += 1
        stats = self.stats_dir / f"worker-{self.started}.json"
        command = [
            sys.executable,
            "-m",
            "seawall.demo.worker",
            "--store",
            self.store_url,
            "--gateway-url",
            self.gateway_url,
            "--gateway-key",
            f"env:{GATEWAY_KEY_ENV}",
            "--settings",
            json.dumps(self.options.settings().to_dict()),
            "--stats-file",
            str(stats),
        ]
        if self.log_file is not None:
            command += ["--log-file", str(self.log_file)]
        env = {**os.environ, GATEWAY_KEY_ENV: self.gateway_key}
        self._procs.append(subprocess.Popen(command, env=env))

    def kill_and_restart(self) -> None:
        """SIGKILL the oldest worker process (no clean-up of any kind), start a new one."""
        victim = self._procs.pop(0)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.kills += 1
        self._spawn()

    def check_alive(self) -> None:
        for proc in self._procs:
            code = proc.poll()
            if code is not None:
                raise DemoError(f"a demo worker process exited with status {code}")

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            await self._task
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs:
            try:
                await asyncio.to_thread(proc.wait, 15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def gateway_stats(self) -> dict[str, Any]:
        """Gateway counters summed over every worker that ran (files of killed ones included)."""
        if self.options.worker_processes == 0:
            return self.runtime.service.stats.to_dict()
        total: dict[str, Any] = {
            "calls": 0,
            "attempts": 0,
            "retries": 0,
            "breaker_trips": 0,
            "rejected_by_breaker": 0,
        }
        for path in sorted(self.stats_dir.glob("worker-*.json")):
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text())["gateway"]
                for key in total:
                    total[key] += int(data.get(key, 0))
        return total
