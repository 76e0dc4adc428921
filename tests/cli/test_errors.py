"""Every store command fails cleanly: unreachable database, unmigrated schema, bad config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seawall.store import open_store
from tests.conftest import postgres_reachable

STORE_COMMANDS = [
    ("migrate",),
    ("jobs", "stats"),
    ("dlq", "list"),
    ("dlq", "show", "job-1"),
    ("dlq", "redrive", "--all"),
    ("dlq", "purge", "--all", "--yes"),
    ("events", "list"),
    ("events", "show", "src", "evt"),
    ("breakers", "list"),
    ("breakers", "reset", "--all"),
]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c))
def test_unreachable_sqlite_store(command: tuple[str, ...], invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/missing-folder/seawall.db"
    for extra in ((), ("--json",)):
        result = invoke(*command, "--store", url, *extra)
        assert result.exit_code == 3
        assert "error: cannot open SQLite store" in result.stderr
        assert "does not exist" in result.stderr
        assert "Traceback" not in result.output


def test_unreachable_postgres_store(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("dlq", "list", "--store", "postgresql://postgres@127.0.0.1:1/nothing")
    assert result.exit_code == 3
    assert "cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/nothing" in (
        result.stderr
    )
    assert "check that the server is running" in result.stderr
    assert "Traceback" not in result.output


def test_unmigrated_store_says_run_migrate(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/fresh.db"
    result = invoke("dlq", "list", "--store", url)
    assert result.exit_code == 1
    assert f"run `seawall migrate --store {url}` first" in result.stderr


def test_unsupported_store_url(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("jobs", "stats", "--store", "mysql://root@localhost/x")
    assert result.exit_code == 2 and "unsupported store URL" in result.stderr


def test_no_store_given(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("dlq", "list")
    assert result.exit_code == 2
    assert "pass --store URL or --config seawall.toml" in result.stderr


def test_bad_config_file_names_location_and_fix(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text('[store]\nurl = "mysql://x"\n[server]\nport = 99999\nhots = "x"\n')
    result = invoke("dlq", "list", "--config", str(bad))
    assert result.exit_code == 2
    assert f"invalid configuration {bad}" in result.stderr
    assert "store.url" in result.stderr and "sqlite:///" in result.stderr
    assert "server.port" in result.stderr
    assert "server.hots" in result.stderr and "remove this key or check its spelling" in (
        result.stderr
    )
    missing = invoke("jobs", "stats", "--config", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and "file not found" in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[store\n")
    toml = invoke("jobs", "stats", "--config", str(broken))
    assert toml.exit_code == 2 and "invalid TOML" in toml.stderr


def test_env_override_reaches_the_cli(
    invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SEAWALL_STORE__URL", f"sqlite:///{tmp_path}/env/x.db")
    result = invoke("jobs", "stats")
    assert result.exit_code == 3 and f"{tmp_path}/env" in result.stderr


def test_migrate_people_and_json(invoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/m.db"
    first = invoke("migrate", "--store", url)
    assert first.exit_code == 0
    assert "applied" in first.stdout and "operator" in first.stdout
    again = invoke("migrate", "--store", url, "--json")
    data = json.loads(again.stdout)
    assert data["applied"] == [] and data["version"] == data["latest"] >= 5


def test_migrate_postgres_json(invoke) -> None:  # type: ignore[no-untyped-def]
    if not postgres_reachable():
        pytest.skip("PostgreSQL unreachable")
    import asyncio
    import uuid

    url = f"postgresql://postgres@127.0.0.1:5432/test?schema=t_cli_{uuid.uuid4().hex[:10]}"
    try:
        result = invoke("migrate", "--store", url, "--json")
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["version"] == data["latest"] and len(data["applied"]) >= 5
        stats = invoke("jobs", "stats", "--store", url, "--json")
        assert stats.exit_code == 0 and json.loads(stats.stdout) == []
    finally:
        store = open_store(url)
        asyncio.run(store.drop_schema())  # type: ignore[attr-defined]
