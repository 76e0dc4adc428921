"""`serve`, `worker`, `fake-provider`, `demo` and `breakers` as operators run them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from seawall.jobs import Queue, QueueStats
from seawall.ops.breakers import BreakerRegistry, BreakerSync
from seawall.resilience.breaker import CircuitBreaker, CircuitState
from seawall.store import open_store
from seawall.testing import FakeClock
from seawall.webhooks import list_events
from tests.cli.conftest import Seeded
from tests.ops import seed

CLI = [sys.executable, "-c", "from seawall.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, timeout: float = 15.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=1.0)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def _stats(url: str) -> list[QueueStats]:
    store = open_store(url)
    try:
        return await Queue(store).stats()
    finally:
        await store.close()


async def _statuses(url: str) -> set[str]:
    store = open_store(url)
    try:
        return {e.status for e in await list_events(store)}
    finally:
        await store.close()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def test_serve_answers_probes_metrics_and_dashboard(seeded: Seeded, tmp_path: Path) -> None:
    port = _free_port()
    config = seed.write_config(tmp_path / "serve.toml", seeded.url, dashboard_token="tok-serve")
    proc = subprocess.Popen(
        [*CLI, "serve", "--config", str(config), "--port", str(port)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_for(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        families = {
            f.name for f in text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
        }
        assert {"seawall_queue_ready", "seawall_breaker_state"} <= families
        page = httpx.get(f"{base}/dashboard", headers={"Authorization": "Bearer tok-serve"})
        assert page.status_code == 200 and "Overview" in page.text
        deadline = time.monotonic() + 15  # the in-process worker drains the 3 seeded events
        while time.monotonic() < deadline:
            stats = {
                r["queue"]: r
                for r in json.loads(
                    subprocess.run(
                        [*CLI, "jobs", "stats", "--store", seeded.url, "--json"],
                        env=_env(),
                        capture_output=True,
                        check=True,
                    ).stdout
                )
            }
            if stats["seawall.webhooks"]["done"] == 3:
                break
            time.sleep(0.2)
        assert stats["seawall.webhooks"]["done"] == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status reports it
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    # Log lines go to stdout (the default stream), one JSON object each.
    assert b"Application shutdown complete" in out and b"Traceback" not in out + err
    assert all(json.loads(line)["ts"] for line in out.splitlines() if line.strip())


def test_serve_with_bad_config_fails_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = -1\n")
    result = subprocess.run(
        [*CLI, "serve", "--config", str(bad)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "server.port" in result.stderr and "Traceback" not in result.stderr


def test_worker_processes_events_and_stops_on_sigterm(seeded: Seeded) -> None:
    proc = subprocess.Popen(
        [*CLI, "worker", "--config", str(seeded.config), "--concurrency", "2"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            listed = json.loads(
                subprocess.run(
                    [*CLI, "events", "list", "--store", seeded.url, "--json"],
                    env=_env(),
                    capture_output=True,
                    check=True,
                ).stdout
            )
            if all(e["status"] == "unhandled" for e in listed):
                break
            time.sleep(0.2)
        assert {e["status"] for e in listed} == {"unhandled"}  # no handler module configured
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"worker stopped after 3 job(s)" in err


def test_fake_provider_serves_until_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*CLI, "fake-provider", "--port", "0", "--seed", "3"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("fake provider listening on http://127.0.0.1:")
        url = line.split(" on ")[1].split(" ")[0]
        assert httpx.get(f"{url}/__counters").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_fake_provider_bad_plan(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan = tmp_path / "plan.json"
    plan.write_text("{not json")
    result = invoke("fake-provider", "--plan", str(plan))
    assert result.exit_code == 2 and "--plan" in result.stderr
    both = invoke("fake-provider", "--plan", str(plan), "--failure-rate", "0.5")
    assert both.exit_code == 2 and "not both" in both.stderr


def test_demo_runs(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("demo", "--payments", "10", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "invariants hold" in result.output
    bad = invoke("demo", "--payments", "0")
    assert bad.exit_code == 2 and "--payments" in bad.stderr


def test_breakers_list_and_reset(seeded: Seeded, invoke) -> None:  # type: ignore[no-untyped-def]
    empty = invoke("breakers", "list", "--store", seeded.url)
    assert empty.exit_code == 0 and "no breakers reported" in empty.stdout
    registry = BreakerRegistry()
    breaker = CircuitBreaker(name="payments-api", clock=FakeClock())
    registry.register(breaker)
    breaker.trip()

    async def sync() -> int:
        store = open_store(seeded.url)
        try:
            return await BreakerSync(store, registry, instance="svc:42").sync_once()
        finally:
            await store.close()

    asyncio.run(sync())
    people = invoke("breakers", "list", "--store", seeded.url)
    assert "payments-api" in people.stdout and "OPEN" in people.stdout and "svc:42" in people.stdout
    listed = json.loads(invoke("breakers", "list", "--store", seeded.url, "--json").stdout)
    assert [(b["name"], b["state"], b["reset_pending"]) for b in listed] == [
        ("payments-api", "OPEN", False)
    ]
    reset = invoke("breakers", "reset", "payments-api", "--store", seeded.url, "--json")
    assert reset.exit_code == 0 and json.loads(reset.stdout) == {"requested": 1}
    assert asyncio.run(sync()) == 1
    assert breaker.state is CircuitState.CLOSED
    unknown = invoke("breakers", "reset", "nope", "--store", seeded.url)
    assert unknown.exit_code == 1 and "no breaker named 'nope'" in unknown.stderr
    neither = invoke("breakers", "reset", "--store", seeded.url)
    assert neither.exit_code == 2 and "give a breaker NAME or --all" in neither.stderr


@pytest.mark.parametrize("args", [["nonsense"], ["dlq", "list", "--limit", "0", "--store", "x"]])
def test_bad_arguments_are_usage_errors(invoke, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = invoke(*args)
    assert result.exit_code == 2 and "Usage:" in result.stderr
