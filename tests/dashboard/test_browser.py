"""End to end in headless Chromium: log in, click Redrive on a dead letter, see the job done."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from seawall.jobs import Job, Queue
from seawall.observability.metrics import SeawallMetrics
from seawall.ops.breakers import BreakerRegistry
from seawall.service.assemble import build_service
from seawall.store import Tx, open_store
from tests.dashboard.conftest import TOKEN
from tests.ops import seed

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install -y chromium)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Flaky:
    """A job handler that fails until told to succeed (the downstream 'recovers')."""

    def __init__(self) -> None:
        self.fail = True
        self.done: list[str] = []

    async def __call__(self, job: Job, tx: Tx) -> None:
        if self.fail:
            raise RuntimeError("report service unavailable")
        self.done.append(job.id)


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, Flaky]]:
    """A live service on 127.0.0.1 with an in-process worker and one dead letter."""
    url = f"sqlite:///{tmp_path}/browser.db"
    monkeypatch.setenv("SEAWALL_TEST_DASH_TOKEN", TOKEN)
    config = seed.webhook_config(
        url,
        dashboard={"token": "env:SEAWALL_TEST_DASH_TOKEN"},
        worker={"poll_interval_s": 0.05},
    )
    app = build_service(config, metrics=SeawallMetrics(), registry=BreakerRegistry())
    handler = Flaky()
    app.state.worker.register("reports", handler, transactional=True)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)

    async def dead_job() -> str:
        store = open_store(url)
        try:
            job_id = await Queue(store).enqueue("reports", {"day": "2026-11-01"}, max_receives=1)
            assert job_id is not None
            for _ in range(200):
                if await Queue(store).dead_letter(job_id) is not None:
                    return job_id
                await asyncio.sleep(0.02)
            raise AssertionError("the failing job never reached the dead-letter queue")
        finally:
            await store.close()

    job_id = asyncio.run(dead_job())
    try:
        yield f"http://127.0.0.1:{port}", job_id, handler
    finally:
        server.should_exit = True
        thread.join(10)


def test_login_redrive_and_see_the_job_processed(service: tuple[str, str, Flaky]) -> None:
    from playwright.sync_api import sync_playwright

    base, job_id, handler = service
    handler.fail = False  # the downstream is back: a redriven job now succeeds
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{base}/dashboard")
            assert page.url.endswith("/dashboard/login")
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/dashboard")
            assert page.inner_text('[data-metric="dlq"] b') == "1"
            page.click("text=Dead letters")
            page.wait_for_selector(f"text={job_id}")
            assert "report service unavailable" in page.content()
            page.click(f'[data-action="redrive-{job_id}"]')
            page.wait_for_selector("text=Redrove 1 job(s)")
            page.goto(f"{base}/dashboard/jobs/{job_id}")
            for _ in range(100):
                if page.inner_text("[data-job-state]") == "done":
                    break
                page.wait_for_timeout(100)
                page.reload()
            assert page.inner_text("[data-job-state]") == "done"
        finally:
            browser.close()
    assert handler.done == [job_id]
