"""What a user installs works: run in a venv with the runtime dependencies only (no dev extra).

`python .ci/runtime_smoke.py` writes a seawall.toml into a temporary folder, puts one job in
the dead-letter queue through the Python API, starts `seawall serve` (the console script of the
same venv), then logs in to the dashboard through its form, redrives the dead letter with a
button's POST, and checks the job is pending again. Only the standard library talks HTTP here, so
no test-only package can hide a missing runtime dependency. `.ci/run` runs it in a fresh venv.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from seawall import Queue, open_store

TOKEN = "runtime-smoke-token-0123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def dead_letter(url: str) -> str:
    """One job that failed its only attempt, so it sits in the dead-letter queue."""
    store = open_store(url)
    try:
        await store.migrate()
        queue = Queue(store)
        job_id = await queue.enqueue("emails", {"to": "a@example.com"}, max_receives=1)
        assert job_id is not None
        [job] = await queue.claim("emails")
        await queue.nack(job, error="SMTP 550")
        return job_id
    finally:
        await store.close()


async def job_state(url: str, job_id: str) -> str:
    store = open_store(url)
    try:
        job = await Queue(store).get_job(job_id)
        return "missing" if job is None else str(job.state)
    finally:
        await store.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="seawall-smoke-"))
    url = f"sqlite:///{folder}/smoke.db"
    (folder / "seawall.toml").write_text(
        f'[store]\nurl = "{url}"\n\n'
        "[[webhooks]]\n"
        'source = "payment-provider"\npath = "/api/webhooks/payment-provider"\n'
        'secrets = ["env:SMOKE_WEBHOOK_SECRET"]\n\n'
        '[dashboard]\ntoken = "env:SMOKE_DASHBOARD_TOKEN"\n'
    )
    job_id = asyncio.run(dead_letter(url))
    port = free_port()
    env = {**os.environ, "SMOKE_WEBHOOK_SECRET": "s" * 24, "SMOKE_DASHBOARD_TOKEN": TOKEN}
    seawall = Path(sys.executable).with_name("seawall")
    server = subprocess.Popen(
        [str(seawall), "serve", "--config", "seawall.toml", "--port", str(port), "--no-worker"],
        cwd=folder,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())

        def post(path: str, fields: dict[str, str]) -> int:
            data = urllib.parse.urlencode(fields).encode()
            try:
                return int(opener.open(f"{base}{path}", data=data, timeout=10).status)
            except urllib.error.HTTPError as exc:
                return exc.code

        form = opener.open(f"{base}/dashboard/login", timeout=10).read().decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf, "the login form has no CSRF field"
        status = post("/dashboard/login", {"token": TOKEN, "csrf": csrf.group(1)})
        assert status == 303, f"login answered {status}"
        page = opener.open(f"{base}/dashboard/dlq", timeout=10).read().decode()
        assert job_id in page, "the dead letter is not listed"
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        status = post("/dashboard/dlq/redrive", {"id": job_id, "csrf": csrf.group(1)})
        assert status == 303, f"redrive answered {status}"
        state = asyncio.run(job_state(url, job_id))
        assert state == "pending", f"the redriven job is {state}, not pending again"
    finally:
        server.terminate()
        server.wait(10)
    print("runtime smoke: dashboard login and redrive passed with runtime dependencies only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
