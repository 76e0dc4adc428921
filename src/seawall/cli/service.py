"""Commands that run things: migrate, serve, worker, demo, fake-provider, config check."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from seawall.cli.common import (
    config_option,
    emit,
    json_option,
    require_config,
    resolve_store_url,
    store_option,
    with_store,
)
from seawall.config import SeawallConfig
from seawall.observability.logging import configure_logging
from seawall.service.settings import check_config, import_handlers, require_valid
from seawall.store import Store

__all__ = ["register"]


@click.command()
@config_option
@store_option
@json_option
def migrate(config_path: Path | None, store_url: str | None, as_json: bool) -> None:
    """Apply pending schema migrations to the store."""
    url = resolve_store_url(config_path, store_url)

    async def action(store: Store) -> dict[str, Any]:
        if not as_json:
            click.echo(f"migrating {store.url} ...", err=True)
        applied = await store.migrate()
        have, known = await store.schema_status()
        return {"store": store.url, "applied": applied, "version": have, "latest": known}

    result = with_store(url, action)
    text = (
        f"applied {len(result['applied'])} migration(s): {', '.join(result['applied'])}; "
        if result["applied"]
        else "nothing to apply; "
    ) + f"schema version {result['version']} of {result['latest']}"
    emit(as_json, result, text=text)


def _preflight(config: SeawallConfig) -> Callable[[Store], Awaitable[None]]:
    """Reach the store before serving: migrate it (when configured) or check its schema."""

    async def check(store: Store) -> None:
        if config.store.migrate_on_start:
            await store.migrate()
        else:
            await store.schema_status()

    return check


@click.command()
@config_option
@click.option("--host", default=None, help="Listen address (default: [server] host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Listen port.")
@click.option("--no-worker", is_flag=True, help="Do not run a worker in this process.")
def serve(config_path: Path | None, host: str | None, port: int | None, no_worker: bool) -> None:
    """Run the service: webhooks, /healthz, /readyz, /metrics, the dashboard and a worker."""
    import uvicorn

    from seawall.service.assemble import build_service

    config = require_config(config_path)
    configure_logging(
        config.logging.level,
        config.logging.format,
        stream=sys.stdout if config.logging.stream == "stdout" else sys.stderr,
    )
    require_valid(config, config_path)  # every problem at once, like `config check`
    import_handlers(config, config_path)
    with_store(config.store.url, _preflight(config))  # store down: one message, exit 3
    app = build_service(config, with_worker=not no_worker)
    uvicorn.run(
        app,
        host=host or config.server.host,
        port=config.server.port if port is None else port,
        log_config=None,
        access_log=False,
    )


@click.command()
@config_option
@click.option("--concurrency", type=click.IntRange(1, 1024), default=None)
def worker(config_path: Path | None, concurrency: int | None) -> None:
    """Run a worker alone (any number, on any machine that reaches the store)."""
    from seawall.jobs import Worker
    from seawall.service.app import start_retention, stop_retention
    from seawall.webhooks import Webhooks

    config = require_config(config_path)
    configure_logging(
        config.logging.level,
        config.logging.format,
        stream=sys.stdout if config.logging.stream == "stdout" else sys.stderr,
    )
    require_valid(config, config_path)
    import_handlers(config, config_path)

    async def action(store: Store) -> None:
        await _preflight(config)(store)
        webhooks = Webhooks.from_config(config, store)
        w = config.worker
        runner = Worker(
            store,
            queue=webhooks.queue,
            concurrency=concurrency or w.concurrency,
            batch_size=w.batch_size,
            visibility_timeout=w.visibility_timeout_s,
            poll_interval=w.poll_interval_s,
        )
        webhooks.attach(runner)
        runner.install_signal_handlers()
        click.echo(f"worker running on {store.url}; Ctrl+C or SIGTERM stops it", err=True)
        stop, cleanup = start_retention(config, webhooks)
        try:
            await runner.run(asyncio.Event())
        finally:
            await stop_retention(stop, cleanup)
        click.echo(f"worker stopped after {runner.processed} job(s)", err=True)

    with_store(config.store.url, action)


_RATE = click.FloatRange(0.0, 1.0)
_AWS_SETTLE_S = 900.0


@click.command()
@click.option("--payments", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 512), default=16, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for every fault.")
@click.option("--fault-rate", type=_RATE, default=0.2, show_default=True, help="Gateway faults.")
@click.option("--decline-rate", type=_RATE, default=0.08, show_default=True)
@click.option("--refund-rate", type=_RATE, default=0.1, show_default=True)
@click.option("--forged-rate", type=_RATE, default=0.05, show_default=True)
@click.option("--stale-rate", type=_RATE, default=0.05, show_default=True)
@click.option("--duplicate-rate", type=_RATE, default=0.1, show_default=True)
@click.option(
    "--store",
    "store_url",
    default=None,
    help="Store URL (default: temp SQLite file), or 'aws' for the AWS mode on a local endpoint.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the summary as JSON here.",
)
@click.option("--keep-running", is_flag=True, help="Leave the services and dashboard up.")
@click.option("--worker-processes", type=click.IntRange(0, 16), default=0, show_default=True)
@click.option("--chaos-kills", type=click.IntRange(0, 100), default=0, show_default=True)
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--policies",
    is_flag=True,
    help="Instead: show each resilience policy on a flaky function (fake clock, no network).",
)
def demo(
    payments: int,
    concurrency: int,
    seed: int,
    fault_rate: float,
    decline_rate: float,
    refund_rate: float,
    forged_rate: float,
    stale_rate: float,
    duplicate_rate: float,
    store_url: str | None,
    report: Path | None,
    keep_running: bool,
    worker_processes: int,
    chaos_kills: int,
    log_file: Path | None,
    policies: bool,
) -> None:
    """Run the end-to-end payment demonstration against a flaky fake gateway."""
    if policies:
        from seawall.demo.policies import run_resilience_demo

        code = run_resilience_demo(seed=seed)
        if code:
            raise click.exceptions.Exit(code)
        return
    if store_url == "aws":
        if keep_running or worker_processes or chaos_kills:
            raise click.UsageError(
                "--store aws runs its workers as pollers in this process: --keep-running, "
                "--worker-processes and --chaos-kills are for the SQL stores"
            )
        _aws_demo(
            payments=payments,
            concurrency=concurrency,
            seed=seed,
            fault_rate=fault_rate,
            decline_rate=decline_rate,
            refund_rate=refund_rate,
            forged_rate=forged_rate,
            stale_rate=stale_rate,
            webhook_duplicate_rate=duplicate_rate,
            report=report,
            log_file=log_file,
        )
        return
    from seawall.demo import main as run_demo_main

    if chaos_kills and not worker_processes:
        raise click.UsageError("--chaos-kills needs --worker-processes 1 or more")
    result = run_demo_main(
        payments=payments,
        concurrency=concurrency,
        seed=seed,
        fault_rate=fault_rate,
        decline_rate=decline_rate,
        refund_rate=refund_rate,
        forged_rate=forged_rate,
        stale_rate=stale_rate,
        webhook_duplicate_rate=duplicate_rate,
        store=store_url,
        report=report,
        keep_running=keep_running,
        worker_processes=worker_processes,
        chaos_kills=chaos_kills,
        log_file=log_file,
    )
    if result:
        raise click.exceptions.Exit(result)


def _aws_demo(*, report: Path | None, log_file: Path | None, **options: Any) -> None:
    """`demo --store aws`: the payment demo on a local AWS endpoint (moto's server)."""
    try:
        from seawall.demo.aws import main as run_aws_demo
        from seawall.demo.options import DemoError, DemoOptions
    except ImportError as exc:
        raise click.UsageError(
            f"the AWS demo needs boto3 and moto's server: pip install 'seawall[aws]' "
            f"'moto[server]' ({exc})"
        ) from None
    try:
        # moto applies one DynamoDB request at a time: a run takes minutes, not seconds.
        demo_options = DemoOptions(**options, settle_timeout_s=_AWS_SETTLE_S)
        code = run_aws_demo(demo_options, report=report, log_file=log_file)
    except (ImportError, DemoError) as exc:
        raise click.UsageError(str(exc)) from None
    if code:
        raise click.exceptions.Exit(code)


@click.command("fake-provider")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON fault plan (see FaultPlan.to_dict).",
)
@click.option("--failure-rate", type=click.FloatRange(0, 1), default=None, help="Flaky plan.")
def fake_provider(
    host: str, port: int, seed: int, plan_file: Path | None, failure_rate: float | None
) -> None:
    """Serve the fault-injecting fake provider until interrupted."""
    from seawall.testing.fake_plan import FaultPlan, FaultPlanError
    from seawall.testing.fake_provider import serve_fake_provider

    if plan_file is not None and failure_rate is not None:
        raise click.UsageError("give --plan or --failure-rate, not both")
    try:
        if plan_file is not None:
            plan = FaultPlan.from_dict(json.loads(plan_file.read_text("utf-8")))
        elif failure_rate is not None:
            plan = FaultPlan.flaky(failure_rate, seed=seed)
        else:
            plan = FaultPlan()
    except (ValueError, FaultPlanError) as exc:
        raise click.BadParameter(str(exc), param_hint="--plan") from None

    def ready(url: str) -> None:
        click.echo(f"fake provider listening on {url} (Ctrl+C stops it)", err=True)

    serve_fake_provider(host, port, plan, seed, ready=ready)


@click.group()
def config() -> None:
    """Inspect configuration files."""


@config.command("check")
@config_option
@json_option
def config_check(config_path: Path | None, as_json: bool) -> None:
    """Validate a configuration file and explain each problem with its location and a fix."""
    path = config_path or Path("seawall.toml")
    report = check_config(path)
    if as_json:
        emit(
            True,
            {
                "path": report.path,
                "ok": report.ok,
                "problems": report.problems,
                "summary": report.summary,
            },
        )
    elif report.ok:
        lines = [f"{report.path}: OK"] + [f"  {k}: {v}" for k, v in report.summary.items()]
        emit(False, None, text="\n".join(lines))
    else:
        click.echo(f"{report.path}: {len(report.problems)} problem(s)", err=True)
        for problem in report.problems:
            click.echo(f"  - {problem}", err=True)
    if not report.ok:
        raise click.exceptions.Exit(2)


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    for command in (migrate, serve, worker, demo, fake_provider, config):
        group.add_command(command)
