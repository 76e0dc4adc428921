"""A crash loop of `seawall serve` (SIGKILL every 0.8 to 1.6 s under load, 10 times) never
dead-letters work no handler started, and everything acknowledged is processed exactly once.

The load is paced at `RATE` deliveries a second: more than the worker gets through while the
receiver takes them, so a backlog builds from round to round and kills land on claimed jobs, but
bounded, so that the final drain works off thousands of events, not tens of thousands (unpaced,
PostgreSQL acknowledged some 20,000 and the drain took 40 s; SQLite stays under the pace)."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import pytest

from seawall.store import Store
from tests.webhooks.handlers_effects import EFFECTS_DDL
from tests.webhooks.support import SECRET
from tests.webhooks.test_crash import drain, load, start_server

URL = "/api/webhooks/payment-provider"
KILLS = 10
RATE = 800


def config_text(store_url: str) -> str:
    return f"""
[store]
url = "{store_url}"

[worker]
poll_interval_s = 0.05
visibility_timeout_s = 1

[[webhooks]]
source = "started"
path = "{URL}"
secrets = ["literal:{SECRET}"]
handlers = "tests.webhooks.handlers_started"
"""


@pytest.mark.slow
async def test_a_crash_loop_never_dead_letters_untried_work(
    tmp_path: Path, store_url: str, wstore: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with wstore.transaction() as tx:
        await tx.execute(EFFECTS_DDL)
    starts = tmp_path / "starts.log"
    starts.touch()
    monkeypatch.setenv("SEAWALL_TEST_STARTS", str(starts))
    config = tmp_path / "seawall.toml"
    config.write_text(config_text(store_url))
    acked: set[str] = set()
    rng = random.Random(11)
    for round_no in range(KILLS):
        proc, base = await start_server(config)
        traffic = asyncio.create_task(
            load(base, round_no, sorted(acked)[:100], acked, per_second=RATE)
        )
        await asyncio.sleep(rng.uniform(0.8, 1.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        await asyncio.wait_for(traffic, 10)

    # The backlog of ten rounds: up to two minutes on a busy machine.
    await drain(config, wstore, "status IN ('received', 'processing')", seconds=120)

    async with wstore.read() as tx:
        rows = await tx.fetchall("SELECT event_id, status FROM seawall_webhook_inbox")
        effects = await tx.fetchall(
            "SELECT event_id, COUNT(*) AS n FROM test_webhook_effects GROUP BY event_id"
        )
        dead_jobs = await tx.fetchall(
            "SELECT payload FROM seawall_jobs WHERE queue = 'seawall.webhooks' AND state = 2"
        )
    started = set(starts.read_text().split())
    status = {r["event_id"]: r["status"] for r in rows}
    per_event = {r["event_id"]: int(r["n"]) for r in effects}
    assert len(acked) > 50, f"too little load to mean anything: {len(acked)} acknowledged"
    assert not acked - status.keys(), "acknowledged events were lost"
    dead = {e for e, s in status.items() if s == "dead"}
    assert dead <= started, f"dead without a handler run: {sorted(dead - started)[:5]}"
    assert {s for e, s in status.items() if e not in dead} <= {"processed"}
    assert all(per_event.get(e) == 1 for e, s in status.items() if s == "processed")
    assert all(e not in per_event for e in dead), "a dead event has no committed effect"
    assert len(dead_jobs) == len(dead), "every dead job's event is dead in the one view"
