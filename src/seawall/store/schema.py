"""The schema-version table and the migration runner shared by both engines."""

from __future__ import annotations

from seawall.store.base import SchemaTooNewError, Tx
from seawall.store.migrator import Migration

__all__ = ["apply_migrations", "current_version"]

_CREATE = """
CREATE TABLE IF NOT EXISTS seawall_schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)
"""


async def current_version(tx: Tx) -> int:
    """The highest migration applied to this database (0 for a new one)."""
    exists = await tx.fetchval(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='seawall_schema_version'"
        if tx.engine == "sqlite"
        else "SELECT to_regclass('seawall_schema_version')::text"
    )
    if not exists:
        return 0
    value = await tx.fetchval("SELECT MAX(version) FROM seawall_schema_version")
    return int(value or 0)


async def apply_migrations(tx: Tx, migrations: list[Migration], now: float) -> list[str]:
    """Apply every migration not yet recorded (a gap is filled too), in the caller's transaction."""
    await tx.execute(_CREATE)
    have = await current_version(tx)
    known = max((m.version for m in migrations), default=0)
    if have > known:
        raise SchemaTooNewError(
            f"the database is at schema version {have}, newer than this seawall knows ({known}); "
            "upgrade seawall before using this database"
        )
    done = {
        int(r["version"]) for r in await tx.fetchall("SELECT version FROM seawall_schema_version")
    }
    applied: list[str] = []
    for migration in migrations:
        if migration.version in done:
            continue
        for statement in migration.statements:
            await tx.execute(statement)
        await tx.execute(
            "INSERT INTO seawall_schema_version (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, now),
        )
        applied.append(f"{migration.version:04d}_{migration.name}")
    return applied
