"""`seawall demo` end to end: every invariant checked from the JSON report, on both engines.

The demo runs the real pieces on 127.0.0.1 (fake gateway with faults, hostile webhook sender,
seawall's receiver under uvicorn, the worker) on a SQLite file or a private PostgreSQL schema.
The chaos variant runs the worker as a subprocess, SIGKILLs it twice mid-run and restarts it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from seawall.demo import DemoError, DemoOptions, main
from seawall.demo.run import demo_store_url
from seawall.store import open_store
from tests.conftest import require_postgres

INVARIANTS = {
    "no_duplicate_charges",
    "every_order_recorded",
    "records_match_provider",
    "no_forged_or_stale_webhook_accepted",
    "every_webhook_acknowledged",
    "every_acknowledged_webhook_stored",
    "every_stored_webhook_processed",
    "no_jobs_left_or_dead",
}


def run(tmp_path: Path, **options: Any) -> tuple[int, dict[str, Any], str]:
    """Run the demo quietly; return its exit status, JSON report and printed output."""
    report = tmp_path / "report.json"
    console = Console(record=True, width=120, force_terminal=False)
    code = main(report=report, console=console, progress=False, **options)
    return code, json.loads(report.read_text()), console.export_text()


def assert_every_invariant(report: dict[str, Any], payments: int) -> None:
    """Check the report's figures directly, not only its own verdicts."""
    assert set(report["invariants"]) == INVARIANTS
    assert report["ok"] is True and all(report["invariants"].values())
    pay, gateway, hooks, jobs = (
        report["payments"],
        report["gateway"],
        report["webhooks"],
        report["jobs"],
    )
    # Every order recorded, and the outcomes add up.
    assert pay["submitted"] == pay["recorded"] == payments
    assert pay["succeeded"] + pay["failed"] + pay["pending"] == payments
    # No duplicate charge: the provider's own ledger, one charge per order at most.
    assert gateway["duplicate_charges"] == 0
    assert gateway["max_charges_per_order"] == 1
    assert gateway["provider_charges"] == payments
    # The faults really happened and were survived.
    assert gateway["provider_requests"] > payments
    # Consistency: every record equals the provider's final state.
    consistency = report["consistency"]
    assert consistency["orders"] == consistency["consistent"] == payments
    assert consistency["mismatches"] == []
    # Refunds reached the provider and the records.
    assert gateway["provider_refunds"] == pay["refunds_submitted"]
    assert pay["refunded"] + pay["partially_refunded"] == pay["refunds_submitted"]
    # Webhooks: forged and stale ones sent and all refused; every genuine one acknowledged,
    # stored once and processed; duplicates answered as duplicates.
    assert hooks["forged_sent"] == hooks["rejected_forged"] and hooks["forged_accepted"] == 0
    assert hooks["stale_sent"] == hooks["rejected_stale"] and hooks["stale_accepted"] == 0
    assert hooks["gave_up"] == [] and hooks["acknowledged"] == hooks["events"]
    assert hooks["acknowledged_not_stored"] == 0
    assert hooks["accepted"] == hooks["stored"] == hooks["processed"] == hooks["events"]
    assert hooks["received"] == hooks["sent"]
    assert hooks["duplicates"] == hooks["sent"] - hooks["accepted"] - sum(
        hooks["rejected"].values()
    )
    assert hooks["dead_lettered"] == 0
    assert jobs == {"remaining": 0, "dead_lettered": 0}
    assert report["latency_ms"]["end_to_end"]["p50"] is not None


def test_demo_on_sqlite_keeps_every_invariant(tmp_path: Path) -> None:
    code, report, output = run(
        tmp_path,
        payments=40,
        concurrency=8,
        seed=11,
        forged_rate=0.2,
        stale_rate=0.2,
        refund_rate=0.3,
    )
    assert code == 0, output
    assert report["store"] == "sqlite"
    assert_every_invariant(report, 40)
    assert report["webhooks"]["forged_sent"] > 0 and report["webhooks"]["stale_sent"] > 0
    assert report["payments"]["refunds_submitted"] > 0
    assert "All 8 invariants hold" in output
    assert "duplicate charges" in output and "consistency" in output


@pytest.mark.postgres
def test_demo_on_postgresql_keeps_every_invariant(tmp_path: Path) -> None:
    schema = f"t_demo_{uuid.uuid4().hex[:10]}"
    url = f"{require_postgres()}?schema={schema}"
    try:
        code, report, output = run(
            tmp_path, payments=40, concurrency=8, seed=12, store=url, refund_rate=0.3
        )
    finally:
        asyncio.run(_drop(url))
    assert code == 0, output
    assert report["store"] == "postgresql"
    assert_every_invariant(report, 40)


@pytest.mark.postgres
def test_demo_on_a_shared_database_uses_a_schema_of_its_own_and_drops_it(tmp_path: Path) -> None:
    url = require_postgres()  # no ?schema=: the database may hold other data
    before = asyncio.run(_demo_schemas(url))
    code, report, output = run(tmp_path, payments=15, concurrency=5, seed=4, store=url)
    assert code == 0, output
    assert_every_invariant(report, 15)
    assert asyncio.run(_demo_schemas(url)) <= before  # its own schema is gone


def test_demo_store_url_gives_postgresql_a_fresh_schema(tmp_path: Path) -> None:
    url, own = demo_store_url("postgresql://u@h/db", tmp_path)
    assert own and url.startswith("postgresql://u@h/db?schema=seawall_demo_")
    url, own = demo_store_url("postgresql://u@h/db?sslmode=disable", tmp_path)
    assert own and "?sslmode=disable&schema=seawall_demo_" in url
    assert demo_store_url("postgresql://u@h/db?schema=mine", tmp_path) == (
        "postgresql://u@h/db?schema=mine",
        False,
    )
    assert demo_store_url(None, tmp_path) == (f"sqlite:///{tmp_path}/demo.db", False)


async def _demo_schemas(url: str) -> set[str]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'seawall_demo_%'"
        )
        return {row[0] for row in await cur.fetchall()}


async def _drop(url: str) -> None:
    store = open_store(url)
    await store.drop_schema()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_chaos_worker_killed_with_sigkill_and_restarted(tmp_path: Path) -> None:
    code, report, output = run(
        tmp_path,
        payments=120,
        concurrency=8,
        seed=13,
        worker_processes=1,
        chaos_kills=2,
        visibility_timeout_s=3.0,
    )
    assert code == 0, output
    assert report["worker"] == {"mode": "subprocess", "kills": 2, "started": 3}
    assert_every_invariant(report, 120)


def test_bad_options_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match="payments"):
        DemoOptions(payments=0)
    with pytest.raises(DemoError, match="fault-rate"):
        DemoOptions(fault_rate=1.5)
    with pytest.raises(DemoError, match="subprocess"):
        DemoOptions(chaos_kills=1)
    console = Console(record=True, width=120)
    assert main(store="mysql://nope", console=console, progress=False) == 2
    assert "--store must be" in console.export_text()
