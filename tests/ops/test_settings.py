"""Environment overrides and `config check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seawall.config import ConfigError
from seawall.service.settings import check_config, env_overrides, load_settings
from tests.ops import seed


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SEAWALL_") or name == "LOG_LEVEL":
            monkeypatch.delenv(name)


def test_env_overrides_win_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = seed.write_config(tmp_path / "s.toml", f"sqlite:///{tmp_path}/a.db")
    monkeypatch.setenv("SEAWALL_STORE__URL", "postgresql://app@db:5432/prod")
    monkeypatch.setenv("SEAWALL_SERVER__PORT", "9100")
    monkeypatch.setenv("SEAWALL_WORKER__CONCURRENCY", "4")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    config = load_settings(path)
    assert config.store.url == "postgresql://app@db:5432/prod"
    assert config.server.port == 9100 and config.worker.concurrency == 4
    assert config.logging.level == "debug"
    assert config.webhooks[0].source == seed.SOURCE
    assert env_overrides()["server"] == {"port": "9100"}


def test_bad_override_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_SERVER__PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    text = "\n".join(caught.value.problems)
    assert "server.port" in text and "SEAWALL_SERVER__PORT" in text


def test_check_reports_secrets_and_handlers(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///x.db"\n[[webhooks]]\nsource = "p"\npath = "/h"\n'
        'secrets = ["env:SEAWALL_TEST_NOT_SET"]\nhandlers = "no_such_module_here"\n'
        '[dashboard]\ntoken = "file:/nonexistent/token"\n'
    )
    report = check_config(path)
    assert not report.ok
    text = "\n".join(report.problems)
    assert "SEAWALL_TEST_NOT_SET is not set; export SEAWALL_TEST_NOT_SET=" in text
    assert "webhooks[0] (p).handlers: cannot import 'no_such_module_here'" in text
    assert "dashboard.token: cannot read /nonexistent/token" in text


def test_config_check_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from seawall.cli import cli

    good = seed.write_config(tmp_path / "good.toml", f"sqlite:///{tmp_path}/g.db")
    runner = CliRunner()
    ok = runner.invoke(cli, ["config", "check", "--config", str(good)])
    assert ok.exit_code == 0 and f"{good}: OK" in ok.stdout and "payment-provider" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[[webhooks]]\nsource = "a b"\npath = "no-slash"\nscheme = "rot13"\n')
    result = runner.invoke(cli, ["config", "check", "--config", str(bad)])
    assert result.exit_code == 2
    for needle in (
        "webhooks[0].source",
        "webhooks[0].path",
        "webhooks[0].scheme",
        "webhooks[0].secrets: Field required (add this key)",
    ):
        assert needle in result.stderr
    as_json = json.loads(
        runner.invoke(cli, ["config", "check", "--config", str(bad), "--json"]).stdout
    )
    assert as_json["ok"] is False and len(as_json["problems"]) == 4


_EVERY_PROBLEM = (
    '[store]\nurl = "sqlite:///{db}"\n'
    '[[webhooks]]\nsource = "a"\npath = "/a"\n'
    'secrets = ["env:SEAWALL_TEST_A_NOT_SET", "ssm-typo:/x", "env:SEAWALL_TEST_OLD_GONE"]\n'
    'handlers = "no_such_module_a"\n'
    '[[webhooks]]\nsource = "b"\npath = "/b"\nscheme = "generic-hmac"\n'
    'secrets = ["${{ssm:/myapp/secret}}"]\nhandlers = "no_such_package.handlers"\n'
    '[dashboard]\ntoken = "file:/nonexistent/token"\n'
)
"""One file with seven problems past the schema: each must be named, in one run."""

_EXPECTED = (
    "SEAWALL_TEST_A_NOT_SET is not set",
    "webhooks[0] (a).secrets[1]",
    "webhooks[0] (a).handlers: cannot import 'no_such_module_a'",
    "webhooks[1] (b).scheme_options: scheme 'generic-hmac': needs option(s) header",
    "webhooks[1] (b).secrets[0]",
    "webhooks[1] (b).handlers: cannot import 'no_such_package.handlers'",
    "dashboard.token: cannot read /nonexistent/token",
)


def test_check_reports_every_problem_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(_EVERY_PROBLEM.format(db=tmp_path / "x.db"))
    report = check_config(path)
    text = "\n".join(report.problems)
    for needle in _EXPECTED:
        assert needle in text
    # A rotated-out previous secret that is gone is not a problem; the first one is.
    assert "SEAWALL_TEST_OLD_GONE" not in text
    assert len(report.problems) == len(_EXPECTED)


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_report_every_problem(tmp_path: Path, command: str) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "c.toml"
    path.write_text(_EVERY_PROBLEM.format(db=tmp_path / "x.db"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from seawall.cli import main; main()",
            command,
            "--config",
            str(path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for needle in _EXPECTED:
        assert needle in result.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was created before the config was sound
