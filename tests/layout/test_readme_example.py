"""The README's webhook example, verbatim, in a fresh folder: `seawall serve --config seawall.toml`.

The server runs as the console script does (the working directory is not on `sys.path` by
itself), so the handlers module beside the configuration must be found the way users expect.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import seawall
from seawall.webhooks.schemes import get_scheme

README = Path(__file__).resolve().parents[2] / "README.md"
SRC = str(Path(seawall.__file__).resolve().parents[1])  # this checkout, from any folder
LAUNCHER = "import sys\nfrom seawall.cli import main\nsys.exit(main())\n"


def readme_block(language: str, first_line: str) -> str:
    """The README code block in `language` whose first line is `first_line`."""
    for block in re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S):
        if block.startswith(first_line):
            return str(block)
    raise AssertionError(f"no {language} block starting {first_line!r} in README.md")


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], cwd: Path, env: dict[str, str], tmp: Path) -> subprocess.Popen[str]:
    """Run `seawall ARGS` from `cwd` through a launcher kept outside it, like the console script."""
    launcher = tmp / "bin" / "seawall"
    launcher.parent.mkdir(exist_ok=True)
    launcher.write_text(LAUNCHER)
    env = {**env, "PYTHONPATH": os.pathsep.join([SRC, env.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, str(launcher), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_readme_serve_example_imports_the_handlers_beside_the_config(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "myapp").mkdir(parents=True)
    (project / "seawall.toml").write_text(readme_block("toml", "# seawall.toml"))
    handlers = readme_block("python", "# myapp/webhook_handlers.py")
    (project / "myapp" / "webhook_handlers.py").write_text(handlers)
    with sqlite3.connect(project / "seawall.db") as db:  # the application's own table
        db.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, paid INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO orders (id) VALUES ('order-1')")
    env = {**os.environ, "WEBHOOK_SECRET": "s3cret", "SEAWALL_DASHBOARD_TOKEN": "t0ken"}
    port = free_port()
    server = start(
        ["serve", "--config", "seawall.toml", "--port", str(port)], project, env, tmp_path
    )
    try:
        body = json.dumps(
            {"id": "evt-1", "event": "payment.completed", "data": {"order_id": "order-1"}}
        ).encode()
        headers = get_scheme("hmac-timestamp").sign(body, "s3cret")
        url = f"http://127.0.0.1:{port}/api/webhooks/payment-provider"
        answer = post_when_up(url, body, headers, server)
        assert answer == {"received": True}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with sqlite3.connect(project / "seawall.db") as db:
                (paid,) = db.execute("SELECT paid FROM orders WHERE id = 'order-1'").fetchone()
            if paid == 1:
                break
            time.sleep(0.1)
        assert paid == 1, "the README's handler did not run"
    finally:
        server.terminate()
        server.wait(timeout=15)


def post_when_up(
    url: str, body: bytes, headers: dict[str, str], server: subprocess.Popen[str]
) -> object:
    """POST once the server listens; fail with its output if it exits first."""
    deadline = time.monotonic() + 30
    while True:
        if server.poll() is not None:
            raise AssertionError(
                f"seawall serve exited: {server.stdout.read() if server.stdout else ''}"
            )
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except (ConnectionError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_handlers_module_that_cannot_be_imported_is_reported_with_what_to_do(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    config = readme_block("toml", "# seawall.toml").replace("myapp.webhook_handlers", "nope.hooks")
    (project / "seawall.toml").write_text(config)
    env = {**os.environ, "WEBHOOK_SECRET": "s3cret", "SEAWALL_DASHBOARD_TOKEN": "t0ken"}
    for command in (["serve"], ["worker"]):
        proc = start([*command, "--config", "seawall.toml"], project, env, tmp_path)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 2, output
        assert "webhooks[0] (payment-provider).handlers: cannot import 'nope.hooks'" in output
        assert str(project) in output and "install it, or fix the name" in output
        assert "Traceback" not in output


def test_handlers_beside_a_config_in_another_folder_import_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seawall.config import load_config
    from seawall.service.settings import import_handlers

    project = tmp_path / "deploy"
    (project / "hooks_pkg_beside").mkdir(parents=True)
    (project / "hooks_pkg_beside" / "handlers.py").write_text("LOADED = True\n")
    config = readme_block("toml", "# seawall.toml").replace(
        "myapp.webhook_handlers", "hooks_pkg_beside.handlers"
    )
    (project / "seawall.toml").write_text(config)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "path", list(sys.path))
    import_handlers(load_config(project / "seawall.toml"), project / "seawall.toml")
    assert sys.modules["hooks_pkg_beside.handlers"].LOADED is True
