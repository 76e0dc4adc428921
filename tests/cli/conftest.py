"""Fixtures for CLI tests: a migrated SQLite store with dead letters and events, and a runner."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from seawall.cli import cli
from seawall.store import open_store
from tests.ops import seed


@dataclass
class Seeded:
    """A store URL with known contents."""

    url: str
    dead: list[str]
    events: list[str]
    config: Path


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    """Two dead letters in queue `emails` and three webhook events, on a SQLite file."""
    url = f"sqlite:///{tmp_path}/cli.db"

    async def fill() -> tuple[list[str], list[str]]:
        store = open_store(url)
        try:
            await store.migrate()
            return await seed.dead_letters(store, 2), await seed.events(store, 3)
        finally:
            await store.close()

    dead, events = asyncio.run(fill())
    return Seeded(url, dead, events, seed.write_config(tmp_path / "cli.toml", url))


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the CLI in an empty working directory; returns click's Result."""
    monkeypatch.chdir(tmp_path)
    for name in ("SEAWALL_STORE__URL", "LOG_LEVEL", "SEAWALL_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return run
