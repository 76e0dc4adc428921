"""`seawall demo --store aws`: the payment demo on the AWS mode, against moto's server.

The run of `seawall demo` (the same hostile gateway and webhook sender, the same orders and
refunds, the same report and 8 invariants from `seawall.demo.report`) with seawall's AWS
backend in place of the SQL store:

- moto's server, in a process of its own, is the AWS endpoint (DynamoDB, SQS, SNS);
- the provider's webhooks reach the receiver function (`LambdaWebhookReceiver`) through a local
  API Gateway (`seawall.demo.aws_http`);
- Lambda's SQS event source mappings are played by pollers on this process's event loop
  (`seawall.aws.poller`): the webhook worker function and the job worker function;
- each order is written with its charge job in one TransactWriteItems (the order item and the
  job's outbox item); the job is sent to SQS after the commit, and the outbox relay sends any
  committed job a failure left unsent.

Where the AWS mode cannot keep a SQL guarantee as such, the report names the difference
(`aws.differences`, printed under the summary; README "AWS mode").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console

from seawall.aws.clients import AwsClients
from seawall.aws.local import local_aws
from seawall.aws.poller import poll_once_async, queue_arn
from seawall.aws.sqs import SqsQueue
from seawall.aws.transact import DynamoTx
from seawall.demo.aws_http import lambda_http_app
from seawall.demo.aws_runtime import AwsDemoRuntime, build_aws_runtime
from seawall.demo.options import DemoOptions, demo_orders
from seawall.demo.phases import run_phases
from seawall.demo.processes import QuietServer, bind_free_port, route_logs
from seawall.demo.progress import DemoProgress
from seawall.demo.report import build_report, load_records, render_summary
from seawall.demo.runtime import DEMO_TENANT, demo_context
from seawall.payments import PaymentRequest
from seawall.testing import FakeProvider
from seawall.testing.fake_webhooks import WebhookSender
from seawall.webhooks import GUIDE_PATH, GUIDE_SOURCE

__all__ = ["AWS_DIFFERENCES", "main", "run_aws_demo"]

log = logging.getLogger("seawall.demo")

_POLL_S = 1.0
"""How often progress is read (each read is a Query and a Scan: moto applies one DynamoDB
request at a time, so reads compete with the work)."""
_RELAY_S = 1.0
_RELAY_AGE_S = 3.0
"""The relay sends items left unsent this long after their commit (normally sent at once)."""
_BATCH = 10
"""Messages per SQS batch (Lambda's default batch size for SQS)."""

AWS_DIFFERENCES = (
    "enqueue in the order's transaction: SQS cannot join one, so each charge and refund job is "
    "an outbox item written in the same TransactWriteItems as the order item and sent after "
    "the commit; the outbox relay sends any committed item a crash left unsent",
    "webhook effects and the inbox mark: a DynamoDB command publish is a TransactWriteItems of "
    "its own and cannot join the mark's, so the payment record's new version commits first "
    "and the mark after it; a crash in between redelivers the event, whose merge then finds "
    "nothing new (idempotent per event id and refund id)",
    "dead letters: `dead` inbox items plus the SQS dead-letter queues of both queues",
    "ordering: none on standard queues (as in SQL); retry delays are whole seconds",
)


def _depth(runtime: AwsDemoRuntime) -> tuple[int, int, int]:
    """(messages and outbox items not finished, dead letters, jobs not finished)."""
    jobs = runtime.job_queue.stats()
    hooks = runtime.webhook_queue.stats()
    unsent = runtime.job_queue.unsent()
    jobs_left = jobs.ready + jobs.in_flight + jobs.delayed + unsent
    hooks_left = hooks.ready + hooks.in_flight + hooks.delayed
    return jobs_left + hooks_left, jobs.dead + hooks.dead, jobs_left


class _AwsRun:
    """One AWS demo run's moving parts and its progress display."""

    def __init__(self, options: DemoOptions, console: Console, show_progress: bool) -> None:
        self.options = options
        self.console = console
        self.show_progress = show_progress
        self.orders = demo_orders(options)
        self.refunds: list[tuple[str, int | None]] = []
        self.started = time.monotonic()
        self.pollers = 0
        self._stop = asyncio.Event()

    async def run(self) -> dict[str, Any]:
        # Long polls, the receiver and boto3 calls all wait in threads.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))
        with local_aws(own_process=True) as endpoint:
            self.console.print(f"[bold]local AWS endpoint[/] {endpoint} (moto server)")
            clients = AwsClients(region="us-east-1", endpoint_url=endpoint)
            return await self._with_endpoint(clients, endpoint)

    async def _with_endpoint(self, clients: AwsClients, endpoint: str) -> dict[str, Any]:
        options = self.options
        webhook_secret = secrets.token_hex(24)
        gateway_key = "sk_demo_" + secrets.token_hex(12)
        sock = bind_free_port()
        receiver_url = f"http://127.0.0.1:{sock.getsockname()[1]}{GUIDE_PATH}"
        sender = WebhookSender(receiver_url, webhook_secret, options.webhook_plan()).start()
        provider = FakeProvider(options.fault_plan(), event_sinks=[sender]).start()
        runtime = await build_aws_runtime(
            clients,
            options.settings(),
            gateway_url=provider.url,
            gateway_key=f"literal:{gateway_key}",
            webhook_secret=webhook_secret,
        )
        server = QuietServer(
            uvicorn.Config(
                lambda_http_app(runtime.receiver),
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
        )
        server_task = asyncio.create_task(server.serve(sockets=[sock]))
        workers: list[asyncio.Task[None]] = []
        try:
            while not server.started:
                if server_task.done():
                    raise RuntimeError("the local API Gateway failed to start")
                await asyncio.sleep(0.01)
            clients.calls.clear()
            workers = self._start_workers(runtime)
            await self._drive(runtime, provider, sender)
            duration = time.monotonic() - self.started
            return await self._report(runtime, provider, sender, duration, endpoint)
        finally:
            self._stop.set()
            for task in workers:
                with contextlib.suppress(Exception):
                    await task
            server.should_exit = True
            with contextlib.suppress(Exception):
                await server_task
            sock.close()
            await runtime.aclose()
            provider.stop()
            sender.stop()

    # -- Lambda's side: pollers and the outbox relay -------------------------------------------

    def _start_workers(self, runtime: AwsDemoRuntime) -> list[asyncio.Task[None]]:
        job_pollers = max(1, -(-self.options.concurrency // _BATCH))
        loops = [
            self._poll(runtime.webhook_queue, runtime.webhook_worker.invoke),
            self._poll(runtime.webhook_queue, runtime.webhook_worker.invoke),
            *(
                self._poll(runtime.job_queue.queue, runtime.job_worker.invoke)
                for _ in range(job_pollers)
            ),
        ]
        self.pollers = len(loops)
        return [asyncio.create_task(loop) for loop in [*loops, self._relay(runtime)]]

    async def _poll(
        self,
        queue: SqsQueue,
        invoke: Callable[[Mapping[str, Any], Any], Awaitable[Mapping[str, Any]]],
    ) -> None:
        """Lambda's event source mapping for `queue`, until the run ends."""
        arn = await asyncio.to_thread(queue_arn, queue)
        while not self._stop.is_set():
            try:
                await poll_once_async(queue, arn, invoke, wait_s=1)
            except Exception:
                log.exception("polling %s failed; trying again", queue.url)
                await asyncio.sleep(1.0)

    async def _relay(self, runtime: AwsDemoRuntime) -> None:
        """The outbox relay: send committed jobs to SQS, until the run ends."""
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(runtime.job_queue.relay, older_than_s=_RELAY_AGE_S)
            except Exception:
                log.exception("the outbox relay failed; trying again")
            await asyncio.sleep(_RELAY_S)

    # -- the shop's side -------------------------------------------------------------------------

    async def _submit(self, runtime: AwsDemoRuntime, request: PaymentRequest) -> None:
        """Write the order and its charge job in one TransactWriteItems."""
        tx = DynamoTx(runtime.clients)
        tx.put(
            runtime.orders_table,
            {
                "id": request.order_id,
                "amount": request.amount,
                "currency": request.currency,
                "customer_id": request.customer_id,
            },
            condition="attribute_not_exists(id)",
        )
        await runtime.service.submit_payment(
            request, invoke_context=demo_context(f"order:{request.order_id}"), tx=tx
        )
        await asyncio.to_thread(tx.commit)

    async def _submit_refunds(self, runtime: AwsDemoRuntime) -> None:
        """Refund some succeeded payments (half fully, half partially), each job written with
        the order's refund request in one TransactWriteItems."""
        records = await load_records(runtime.commands, DEMO_TENANT)
        rng = random.Random(f"{self.options.seed}|refunds")
        for request in self.orders:
            record = records.get(request.order_id)
            if record is None or record.get("status") != "success":
                continue
            if rng.random() >= self.options.refund_rate:
                continue
            amount = None if rng.random() < 0.5 else request.amount // 2
            self.refunds.append((request.order_id, amount))
            tx = DynamoTx(runtime.clients)
            tx.update(
                runtime.orders_table,
                {"id": request.order_id},
                "SET refund_requested = :a",
                values={":a": amount if amount is not None else request.amount},
            )
            await runtime.service.submit_refund(
                request.order_id,
                invoke_context=demo_context(f"refund:{request.order_id}"),
                amount=amount,
                tx=tx,
            )
            await asyncio.to_thread(tx.commit)

    async def _drive(
        self, runtime: AwsDemoRuntime, provider: FakeProvider, sender: WebhookSender
    ) -> None:
        options = self.options
        total = len(self.orders)
        with DemoProgress(
            self.console, total=total, work_label="messages", show=self.show_progress
        ) as progress:
            semaphore = asyncio.Semaphore(options.concurrency)
            done = 0

            async def submit(request: PaymentRequest) -> None:
                nonlocal done
                async with semaphore:
                    await self._submit(runtime, request)
                done += 1
                progress.submitted(done)

            async def tick(phase: str) -> tuple[int, int, int]:
                count = len(await load_records(runtime.commands, DEMO_TENANT))
                left, dead, jobs_left = await asyncio.to_thread(_depth, runtime)
                stats = sender.stats()
                progress.show(
                    recorded=count, webhooks=stats, work=f"{phase}: {left} left, {dead} dead"
                )
                return count, left + stats.pending, jobs_left

            deadline = time.monotonic() + options.settle_timeout_s
            await asyncio.gather(*(submit(r) for r in self.orders))
            await run_phases(
                tick,
                total=total,
                deadline=deadline,
                poll_s=_POLL_S,
                submit_refunds=lambda: self._submit_refunds(runtime),
                events_settled=lambda: len(provider.events()) == sender.stats().events,
            )

    async def _report(
        self,
        runtime: AwsDemoRuntime,
        provider: FakeProvider,
        sender: WebhookSender,
        duration: float,
        endpoint: str,
    ) -> dict[str, Any]:
        left, dead, _ = await asyncio.to_thread(_depth, runtime)
        stored_ids = await _stored_ids(runtime)
        report = build_report(
            options=asdict(self.options),
            store="aws",
            duration_s=duration,
            order_ids=[r.order_id for r in self.orders],
            refunds_submitted=len(self.refunds),
            records=await load_records(runtime.commands, DEMO_TENANT),
            provider=provider,
            sender=sender,
            receiver=runtime.receiver.stats,
            inbox=await runtime.inbox.counts_by_status(),
            stored_ids=stored_ids,
            jobs_left=left,
            jobs_dead=dead,
            worker={"mode": "lambda pollers", "kills": 0, "started": self.pollers},
            gateway=runtime.service.stats.to_dict(),
        )
        calls = runtime.clients
        report["aws"] = {
            "endpoint": endpoint,
            "prefix": runtime.names.prefix,
            "calls": dict(sorted(calls.calls.items())),
            "total_calls": calls.total_calls(),
            "calls_per_payment": round(calls.total_calls() / max(1, len(self.orders)), 1),
            "differences": list(AWS_DIFFERENCES),
        }
        return report


def render_aws_notes(report: dict[str, Any], console: Console) -> None:
    """Print what the AWS mode did differently, and what it cost in API calls."""
    aws = report["aws"]
    console.print(
        f"[bold]AWS mode[/] (local endpoint, prefix {aws['prefix']}): {aws['total_calls']:,} API "
        f"calls, {aws['calls_per_payment']} per payment. Where it differs from SQL:"
    )
    for note in aws["differences"]:
        console.print(f"  - {note}")


def run_aws_demo(
    options: DemoOptions,
    *,
    console: Console | None = None,
    progress: bool = True,
    log_file: Path | None = None,
) -> dict[str, Any]:
    """Run the payment demo on a local AWS endpoint; return its report (as `--report` writes
    it, with `ok`, `invariants` and `aws`)."""
    console = console or Console()
    with route_logs(log_file):
        return asyncio.run(_AwsRun(options, console, progress).run())


def main(
    options: DemoOptions,
    *,
    report: Path | None = None,
    console: Console | None = None,
    progress: bool = True,
    log_file: Path | None = None,
) -> int:
    """`seawall demo --store aws`: print the summary, write `report`; 0 when every invariant
    holds."""
    console = console or Console()
    console.print(
        f"[bold]seawall demo[/] on AWS: {options.payments} payments, concurrency "
        f"{options.concurrency}, seed {options.seed}, gateway faults {options.fault_rate:.0%}"
    )
    result = run_aws_demo(options, console=console, progress=progress, log_file=log_file)
    render_summary(result, console)
    render_aws_notes(result, console)
    if report is not None:
        Path(report).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        console.print(f"report written to {report}")
    return 0 if result["ok"] else 1


async def _stored_ids(runtime: AwsDemoRuntime, page: int = 10_000) -> set[str]:
    """The ids of every event the inbox stored from the gateway, read a page at a time."""
    ids: set[str] = set()
    offset = 0
    while True:
        events = await runtime.inbox.list_events(source=GUIDE_SOURCE, limit=page, offset=offset)
        ids.update(e.event_id for e in events)
        if len(events) < page:
            return ids
        offset += page
