"""Versioned schema migrations: numbered SQL files per engine, applied in order, recorded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from seawall.store.base import Engine

__all__ = ["Migration", "load_migrations", "split_statements"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered migration: its version, name and SQL statements."""

    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> tuple[str, ...]:
    """Split a migration file into statements at semicolons that end a line."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    parts = re.split(r";\s*\n", "\n".join(lines) + "\n")
    return tuple(part.strip() for part in parts if part.strip())


def load_migrations(engine: Engine) -> list[Migration]:
    """Every migration shipped for `engine`, ordered by version."""
    folder = resources.files("seawall.store") / "migrations" / engine
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                statements=split_statements(entry.read_text()),
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions for {engine}: {versions}")
    return found
