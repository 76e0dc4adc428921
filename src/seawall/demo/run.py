"""`seawall demo`: payments through a hostile fake gateway, proved consistent at the end.

What runs, all on 127.0.0.1:
- a `FakeProvider` (the payment gateway) with a seeded fault plan: 5xx, 429 with Retry-After,
  resets, cut bodies, faults that strike after the charge was stored, and a short outage;
- its `WebhookSender`, which signs every charge and refund event with the guide's scheme and
  redelivers, duplicates, delays, and mixes in forged and stale requests;
- seawall: the webhook receiver under uvicorn and a worker (in this process, or as subprocesses
  the demo can SIGKILL and restart), on an embedded SQLite file or a PostgreSQL store.

The shop submits N payments through the outbox (`submit_payment`), then refunds some of the
ones that succeeded, waits for every job and webhook to settle, and checks its invariants: no
order charged twice, every order recorded, every record equal to the provider's final state, no
forged or stale webhook accepted, every webhook acknowledged, stored and processed, no job left
or dead. `main(...)` returns 0 when all hold, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from starlette.applications import Starlette

from seawall.config import SeawallConfig
from seawall.demo.options import (
    DemoError,
    DemoOptions,
    demo_orders,
    demo_store_url,
    drop_schema,
)
from seawall.demo.phases import run_phases
from seawall.demo.processes import DemoWorkers, QuietServer, bind_free_port, route_logs
from seawall.demo.progress import DemoProgress
from seawall.demo.report import (
    build_report,
    inbox_counts,
    inbox_ids,
    load_records,
    render_summary,
)
from seawall.demo.runtime import DEMO_TENANT, DemoRuntime, build_runtime, demo_context
from seawall.jobs import Queue
from seawall.payments import CHARGE_QUEUE, REFUND_QUEUE, PaymentRequest
from seawall.service.assemble import operator_routes
from seawall.store import Store, open_store
from seawall.testing import FakeProvider
from seawall.testing.fake_webhooks import WebhookSender
from seawall.webhooks import GUIDE_PATH, GUIDE_SOURCE

__all__ = ["DemoError", "DemoOptions", "demo_store_url", "main", "run_demo"]

_POLL_S = 0.1


async def _queue_depth(queue: Queue, names: tuple[str, ...] | None = None) -> tuple[int, int]:
    """(jobs not finished, jobs dead) over `names` (all queues when None)."""
    left = dead = 0
    for stat in await queue.stats():
        if names is None or stat.queue in names:
            left += stat.ready + stat.in_flight + stat.delayed
            dead += stat.dead
    return left, dead


class _Run:
    """One demo run's moving parts and its progress display."""

    def __init__(
        self, options: DemoOptions, console: Console, show_progress: bool, log_file: Path | None
    ) -> None:
        self.options = options
        self.log_file = log_file
        self.console = console
        self.show_progress = show_progress
        self.orders = demo_orders(options)
        self.refunds: list[tuple[str, int | None]] = []
        self.started = time.monotonic()
        self.on_report: Callable[[dict[str, Any]], None] | None = None
        self.keep_running = False
        self.dashboard_token = secrets.token_urlsafe(18)

    async def _count_recorded(self, runtime: DemoRuntime) -> int:
        records = await load_records(runtime.service.commands, DEMO_TENANT)
        return len(records)

    async def run(self) -> dict[str, Any]:
        options = self.options
        with tempfile.TemporaryDirectory(prefix="seawall-demo-") as tmp:
            store_url, own_schema = demo_store_url(options.store, Path(tmp))
            store = open_store(store_url)
            try:
                await store.migrate()
            except Exception as exc:
                await store.close()
                raise DemoError(f"cannot open and migrate the store {store_url}: {exc}") from exc
            try:
                return await self._with_store(store, store_url, Path(tmp))
            finally:
                if own_schema and not self.keep_running:
                    await drop_schema(store)
                await store.close()

    async def _with_store(self, store: Store, store_url: str, tmp: Path) -> dict[str, Any]:
        options = self.options
        webhook_secret = secrets.token_hex(24)
        gateway_key = "sk_demo_" + secrets.token_hex(12)
        sock = bind_free_port()
        port = sock.getsockname()[1]
        receiver_url = f"http://127.0.0.1:{port}{GUIDE_PATH}"
        sender = WebhookSender(receiver_url, webhook_secret, options.webhook_plan()).start()
        provider = FakeProvider(options.fault_plan(), event_sinks=[sender]).start()
        runtime = build_runtime(
            store,
            options.settings(),
            gateway_url=provider.url,
            gateway_key=f"literal:{gateway_key}",
            webhook_secret=webhook_secret,
        )
        app = Starlette(
            routes=[
                *runtime.webhooks.routes(),
                *operator_routes(SeawallConfig(), dashboard_token=self.dashboard_token),
            ]
        )
        app.state.store = store
        app.state.webhooks = runtime.webhooks
        server = QuietServer(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        )
        server_task = asyncio.create_task(server.serve(sockets=[sock]))
        workers = DemoWorkers(
            options, runtime, store_url, provider.url, gateway_key, tmp, self.log_file
        )
        try:
            while not server.started:
                if server_task.done():
                    raise DemoError("the webhook receiver failed to start")
                await asyncio.sleep(0.01)
            workers.start()
            await self._drive(runtime, provider, sender, workers)
            duration = time.monotonic() - self.started
            report = await self._report(runtime, provider, sender, workers, duration)
            base = f"http://127.0.0.1:{port}"
            report["urls"] = {
                "gateway": provider.url,
                "webhooks": receiver_url,
                "dashboard": f"{base}/dashboard",
                "metrics": f"{base}/metrics",
            }
            if self.on_report is not None:
                self.on_report(report)
            if self.keep_running:
                await self._hold(report["urls"])
            return report
        finally:
            await workers.stop()
            server.should_exit = True
            with contextlib.suppress(Exception):
                await server_task
            sock.close()
            await runtime.aclose()
            provider.stop()
            sender.stop()

    async def _hold(self, urls: dict[str, str]) -> None:
        """Keep every service up until Ctrl-C or SIGTERM."""
        self.console.print(
            f"\n[bold]still running[/] (Ctrl-C to stop)\n"
            f"  dashboard  {urls['dashboard']}  (token: {self.dashboard_token})\n"
            f"  metrics    {urls['metrics']}\n"
            f"  webhooks   {urls['webhooks']}\n"
            f"  gateway    {urls['gateway']}"
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _drive(
        self,
        runtime: DemoRuntime,
        provider: FakeProvider,
        sender: WebhookSender,
        workers: DemoWorkers,
    ) -> None:
        options = self.options
        total = len(self.orders)
        kill_at = [
            int(total * 0.8 * (i + 1) / (options.chaos_kills + 1))
            for i in range(options.chaos_kills)
        ]
        with DemoProgress(
            self.console, total=total, work_label="jobs", show=self.show_progress
        ) as progress:
            semaphore = asyncio.Semaphore(options.concurrency)
            service, store = runtime.service, runtime.store
            done = 0

            async def submit(request: PaymentRequest) -> None:
                nonlocal done
                async with semaphore, store.transaction() as tx:
                    # The shop's own order write would go here: the charge commits with it.
                    await service.submit_payment(
                        request, invoke_context=demo_context(f"order:{request.order_id}"), tx=tx
                    )
                done += 1
                progress.submitted(done)

            submitting = asyncio.gather(*(submit(r) for r in self.orders))

            async def tick(phase: str) -> tuple[int, int, int]:
                workers.check_alive()
                count = await self._count_recorded(runtime)
                left, dead = await _queue_depth(runtime.queue)
                charges_left, _ = await _queue_depth(runtime.queue, (CHARGE_QUEUE, REFUND_QUEUE))
                stats = sender.stats()
                progress.show(
                    recorded=count,
                    webhooks=stats,
                    work=f"{phase}: {left} left, {dead} dead, kills {workers.kills}",
                )
                return count, left + stats.pending, charges_left

            deadline = time.monotonic() + options.settle_timeout_s
            await submitting

            def chaos(count: int) -> None:
                while kill_at and count >= kill_at[0]:
                    kill_at.pop(0)
                    workers.kill_and_restart()

            await run_phases(
                tick,
                total=total,
                deadline=deadline,
                poll_s=_POLL_S,
                submit_refunds=lambda: self._submit_refunds(runtime),
                events_settled=lambda: len(provider.events()) == sender.stats().events,
                on_recorded=chaos,
            )

    async def _submit_refunds(self, runtime: DemoRuntime) -> None:
        """Refund some succeeded payments: half of them fully, half partially."""
        records = await load_records(runtime.service.commands, DEMO_TENANT)
        rng = random.Random(f"{self.options.seed}|refunds")
        for request in self.orders:
            record = records.get(request.order_id)
            if record is None or record.get("status") != "success":
                continue
            if rng.random() >= self.options.refund_rate:
                continue
            amount = None if rng.random() < 0.5 else request.amount // 2
            self.refunds.append((request.order_id, amount))
            await runtime.service.submit_refund(
                request.order_id,
                invoke_context=demo_context(f"refund:{request.order_id}"),
                amount=amount,
            )

    async def _report(
        self,
        runtime: DemoRuntime,
        provider: FakeProvider,
        sender: WebhookSender,
        workers: DemoWorkers,
        duration: float,
    ) -> dict[str, Any]:
        store = runtime.store
        left, dead = await _queue_depth(runtime.queue)
        return build_report(
            options=asdict(self.options),
            store=store.engine,
            duration_s=duration,
            order_ids=[r.order_id for r in self.orders],
            refunds_submitted=len(self.refunds),
            records=await load_records(runtime.service.commands, DEMO_TENANT),
            provider=provider,
            sender=sender,
            receiver=runtime.webhooks.stats,
            inbox=await inbox_counts(store),
            stored_ids=await inbox_ids(store, GUIDE_SOURCE),
            jobs_left=left,
            jobs_dead=dead,
            worker={
                "mode": "subprocess" if self.options.worker_processes else "in-process",
                "kills": workers.kills,
                "started": workers.started,
            },
            gateway=workers.gateway_stats(),
        )


def run_demo(
    options: DemoOptions,
    *,
    console: Console | None = None,
    progress: bool = True,
    log_file: Path | None = None,
    on_report: Callable[[dict[str, Any]], None] | None = None,
    keep_running: bool = False,
) -> dict[str, Any]:
    """Run the demo and return its report (as written by `--report`).

    `on_report` sees the report as soon as it exists. With `keep_running` the receiver, worker,
    fake gateway and dashboard then stay up until Ctrl-C (or SIGTERM).
    Log records of every demo process go to `log_file` (appended), or nowhere when None.
    """
    console = console or Console()
    run = _Run(options, console, progress, log_file)
    run.on_report = on_report
    run.keep_running = keep_running
    with route_logs(log_file):
        return asyncio.run(run.run())


def main(
    payments: int = 200,
    concurrency: int = 16,
    seed: int = 7,
    fault_rate: float = 0.2,
    decline_rate: float = 0.08,
    pending_rate: float = 0.02,
    refund_rate: float = 0.1,
    outage_s: float = 0.6,
    webhook_duplicate_rate: float = 0.1,
    webhook_delay_rate: float = 0.15,
    forged_rate: float = 0.05,
    stale_rate: float = 0.05,
    store: str | None = None,
    report: str | Path | None = None,
    keep_running: bool = False,
    console: Console | None = None,
    worker_processes: int = 0,
    chaos_kills: int = 0,
    visibility_timeout_s: float = 5.0,
    progress: bool = True,
    log_file: str | Path | None = None,
) -> int:
    """Run `seawall demo`; print the summary, write `report` as JSON; 0 when every invariant holds.

    `store` is a store URL (default: a SQLite file in a temporary directory). With
    `worker_processes` the worker runs as that many subprocesses, and `chaos_kills` of them are
    killed with SIGKILL mid-run and restarted. `keep_running` leaves the gateway, receiver,
    worker and dashboard up afterwards until Ctrl-C. Log records go to `log_file` when given,
    else nowhere.
    """
    console = console or Console()
    try:
        options = DemoOptions(
            payments=payments,
            concurrency=concurrency,
            seed=seed,
            fault_rate=fault_rate,
            decline_rate=decline_rate,
            pending_rate=pending_rate,
            refund_rate=refund_rate,
            outage_s=outage_s,
            webhook_duplicate_rate=webhook_duplicate_rate,
            webhook_delay_rate=webhook_delay_rate,
            forged_rate=forged_rate,
            stale_rate=stale_rate,
            store=store,
            worker_processes=worker_processes,
            chaos_kills=chaos_kills,
            visibility_timeout_s=visibility_timeout_s,
        )
        console.print(
            f"[bold]seawall demo[/]: {payments} payments, concurrency {concurrency}, seed {seed}, "
            f"gateway faults {fault_rate:.0%}, store {store or 'SQLite (temporary file)'}"
        )
        result = run_demo(
            options,
            console=console,
            progress=progress,
            log_file=Path(log_file) if log_file is not None else None,
            on_report=lambda r: _publish(r, console, report),
            keep_running=keep_running,
        )
    except DemoError as exc:
        console.print(f"[bold red]demo failed:[/] {exc}")
        return 2
    return 0 if result["ok"] else 1


def _publish(result: dict[str, Any], console: Console, report: str | Path | None) -> None:
    """Print the summary and write the JSON report."""
    render_summary(result, console)
    if report is not None:
        Path(report).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        console.print(f"report written to {report}")
