"""SIGKILL the server under load, repeatedly: every event answered 2xx is stored exactly once and
processed exactly once (one effect), after restarts."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from seawall.store import Store
from tests.serving import free_port
from tests.webhooks.handlers_effects import EFFECTS_DDL
from tests.webhooks.support import SECRET, event_body, guide_headers

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/webhooks/payment-provider"
ROUNDS = 4
SENDERS = 32


def config_text(store_url: str) -> str:
    return f"""
[store]
url = "{store_url}"

[worker]
poll_interval_s = 0.05
visibility_timeout_s = 2

[[webhooks]]
source = "effects"
path = "{URL}"
secrets = ["literal:{SECRET}"]
handlers = "tests.webhooks.handlers_effects"
"""


def spawn(config: Path, port: int) -> subprocess.Popen[bytes]:
    """`seawall serve` as its own process (uvicorn, in-process worker), as operators run it."""
    return subprocess.Popen(
        [sys.executable, "-m", "seawall", "serve", "--config", str(config), "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SEAWALL_LOGGING__LEVEL": "WARNING"},
    )


async def start_server(config: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = spawn(config, port)
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(base + "/ready-probe"):
                    return proc, base
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not start")


async def load(
    base: str,
    round_no: int,
    resend: list[str],
    acked: set[str],
    *,
    per_second: float | None = None,
) -> None:
    """Post new events (and some already-acknowledged ones) until the server dies; at most
    `per_second` deliveries a second in all when given (each sender keeps its share)."""
    counter = iter(range(1_000_000))
    gap = SENDERS / per_second if per_second else 0.0
    loop = asyncio.get_running_loop()

    async def sender(session: aiohttp.ClientSession, k: int) -> None:
        next_at = loop.time()
        while True:
            if gap:
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                next_at = max(next_at + gap, loop.time())
            if resend and k % 4 == 0:
                event_id = random.choice(resend)
            else:
                event_id = f"r{round_no}-s{k}-{next(counter)}"
            body = event_body(event_id, amount=1)
            try:
                async with session.post(base + URL, data=body, headers=guide_headers(body)) as r:
                    if r.status == 200:
                        acked.add(event_id)
                    else:
                        assert r.status == 503, r.status
            except (TimeoutError, aiohttp.ClientError):
                return

    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(sender(session, k) for k in range(SENDERS)))


async def drain(config: Path, wstore: Store, open_status: str, *, seconds: float) -> None:
    """Start the server once more and wait (up to `seconds`) until no inbox row matches
    `open_status`, then stop it gracefully: the backlog of the killed rounds is worked off."""
    proc, _ = await start_server(config)
    try:
        for _ in range(int(seconds / 0.05)):
            async with wstore.read() as tx:
                left = await tx.fetchval(
                    f"SELECT COUNT(*) FROM seawall_webhook_inbox WHERE {open_status}"
                )
            if left == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


@pytest.mark.slow
async def test_sigkill_under_load_loses_and_duplicates_nothing(
    tmp_path: Path, store_url: str, wstore: Store
) -> None:
    async with wstore.transaction() as tx:
        await tx.execute(EFFECTS_DDL)
    config = tmp_path / "seawall.toml"
    config.write_text(config_text(store_url))
    acked: set[str] = set()
    rng = random.Random(5)
    for round_no in range(ROUNDS):
        proc, base = await start_server(config)
        before = len(acked)
        resend = sorted(acked)[:200]
        traffic = asyncio.create_task(load(base, round_no, resend, acked))
        await asyncio.sleep(rng.uniform(0.6, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        await asyncio.wait_for(traffic, 10)
        assert len(acked) > before, "the load generator got no answer before the kill"

    await drain(config, wstore, "status <> 'processed'", seconds=20)

    async with wstore.read() as tx:
        rows = await tx.fetchall("SELECT event_id, status FROM seawall_webhook_inbox")
        effects = await tx.fetchall(
            "SELECT event_id, COUNT(*) AS n FROM test_webhook_effects GROUP BY event_id"
        )
    stored = {r["event_id"]: r["status"] for r in rows}
    assert len(stored) == len(rows)
    assert len(acked) > 100, f"too little load to mean anything: {len(acked)} acknowledged"
    missing = acked - stored.keys()
    assert not missing, f"{len(missing)} acknowledged events were lost"
    assert {s for s in stored.values()} == {"processed"}
    per_event = {r["event_id"]: int(r["n"]) for r in effects}
    assert per_event.keys() == stored.keys()
    assert set(per_event.values()) == {1}
