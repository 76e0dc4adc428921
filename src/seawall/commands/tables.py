"""The three tables of a command module and the SQL that reads and writes them.

The framework names a module's tables `{env}-{app}-{module}-command|data|history` (NODE_ENV and
APP_NAME). `CommandTables.for_module("order", env="dev", app="shop")` gives those names; the
default set is seawall's migrated `seawall_commands`, `seawall_command_data` and
`seawall_command_history`. A module's tables are created (`CommandService.create_tables`) from
the same migration files that create the default ones, with the names swapped, so both always
have the same columns.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property

from seawall.commands.rules import KEPT_FROM_FIRST
from seawall.store import Tx
from seawall.store.migrator import load_migrations

__all__ = ["COMMAND_COLUMNS", "COMMON_COLUMNS", "DATA_COLUMNS", "CommandTables"]

COMMON_COLUMNS = (
    "pk",
    "sk",
    "version",
    "id",
    "code",
    "name",
    "tenant_code",
    "type",
    "is_deleted",
    "seq",
    "ttl",
    "attributes",
)
AUDIT_COLUMNS = (
    "source",
    "request_id",
    "created_at",
    "created_by",
    "created_ip",
    "updated_at",
    "updated_by",
    "updated_ip",
)
COMMAND_COLUMNS = (*COMMON_COLUMNS, "status", *AUDIT_COLUMNS)
DATA_COLUMNS = (*COMMON_COLUMNS, "cpk", "csk", *AUDIT_COLUMNS)
_KEPT_ON_UPDATE = ("pk", "sk", *KEPT_FROM_FIRST)
_DEFAULT = ("seawall_commands", "seawall_command_data", "seawall_command_history")
_MIGRATIONS = ("commands", "commands_framework")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")


def _q(name: str) -> str:
    return f'"{name}"'


def _cols(columns: tuple[str, ...]) -> str:
    return ", ".join(columns)


def _marks(columns: tuple[str, ...]) -> str:
    return ", ".join("?" for _ in columns)


def _live(alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return f"({prefix}ttl IS NULL OR {prefix}ttl > ?)"


@dataclass(frozen=True)
class CommandTables:
    """Names of a module's command, data and history tables, and their SQL (`?` placeholders)."""

    command: str = _DEFAULT[0]
    data: str = _DEFAULT[1]
    history: str = _DEFAULT[2]
    module: str | None = field(default=None, compare=False)

    @classmethod
    def for_module(
        cls, module: str, *, env: str | None = None, app: str | None = None
    ) -> CommandTables:
        """`{env}-{app}-{module}-command|data|history`; env and app default to NODE_ENV and
        APP_NAME from the environment, as in the framework."""
        env = env if env is not None else os.environ.get("NODE_ENV", "")
        app = app if app is not None else os.environ.get("APP_NAME", "")
        for label, value in (("module", module), ("env", env), ("app", app)):
            if not value or not _NAME.match(value):
                raise ValueError(
                    f"a command module's table names need a {label} of letters, digits, '_', "
                    f"'-' or '.' (got {value!r}; set it or {label.upper()} in the environment)"
                    if label == "module"
                    else f"a command module's table names need {label} (got {value!r}); pass "
                    f"{label}= or set {'NODE_ENV' if label == 'env' else 'APP_NAME'}"
                )
        prefix = f"{env}-{app}-{module}"
        return cls(f"{prefix}-command", f"{prefix}-data", f"{prefix}-history", module)

    @property
    def is_default(self) -> bool:
        """True for seawall's migrated tables (created by `store.migrate()`)."""
        return (self.command, self.data, self.history) == _DEFAULT

    async def create(self, tx: Tx) -> None:
        """Create this module's tables and indexes (idempotent) from the commands migrations."""
        for migration in load_migrations(tx.engine):
            if migration.name not in _MIGRATIONS:
                continue
            for statement in migration.statements:
                await tx.execute(self.rename(statement))

    def rename(self, statement: str) -> str:
        """A statement on the default tables rewritten for this module's tables."""

        def swap(match: re.Match[str]) -> str:
            table = {
                _DEFAULT[0]: self.command,
                _DEFAULT[1]: self.data,
                _DEFAULT[2]: self.history,
            }[match.group(1)]
            suffix = match.group(2) or ""
            return _q(table + suffix)

        return re.sub(
            r"\b(seawall_commands|seawall_command_data|seawall_command_history)(_[a-z_]+)?\b",
            swap,
            statement,
        )

    # -- SQL ---------------------------------------------------------------------------------

    @cached_property
    def command_select(self) -> str:
        return f"SELECT {_cols(COMMAND_COLUMNS)} FROM {_q(self.command)}"

    @cached_property
    def data_select(self) -> str:
        return f"SELECT {_cols(DATA_COLUMNS)} FROM {_q(self.data)}"

    @cached_property
    def history_select(self) -> str:
        return f"SELECT {_cols(DATA_COLUMNS)} FROM {_q(self.history)}"

    @cached_property
    def command_one(self) -> str:
        """One command version, expired or not: (pk, sk, version)."""
        return self.command_select + " WHERE pk = ? AND sk = ? AND version = ?"

    @cached_property
    def command_live(self) -> str:
        """One unexpired command version: (pk, sk, version, now)."""
        return self.command_one + f" AND {_live()}"

    @cached_property
    def command_latest(self) -> str:
        """The latest unexpired command of an item: (pk, sk, now)."""
        return (
            self.command_select
            + f" WHERE pk = ? AND sk = ? AND {_live()} ORDER BY version DESC LIMIT 1"
        )

    @cached_property
    def command_max_version(self) -> str:
        return f"SELECT MAX(version) FROM {_q(self.command)} WHERE pk = ? AND sk = ?"

    @cached_property
    def command_insert(self) -> str:
        return (
            f"INSERT INTO {_q(self.command)} ({_cols(COMMAND_COLUMNS)}) "
            f"VALUES ({_marks(COMMAND_COLUMNS)}) ON CONFLICT (pk, sk, version) DO NOTHING"
        )

    @cached_property
    def command_set_status(self) -> str:
        return f"UPDATE {_q(self.command)} SET status = ? WHERE pk = ? AND sk = ? AND version = ?"

    @cached_property
    def command_set_ttl(self) -> str:
        return f"UPDATE {_q(self.command)} SET ttl = ? WHERE pk = ? AND sk = ? AND version = ?"

    @cached_property
    def command_unfinished(self) -> str:
        """Commands to sync, item versions in order: (finished, alarmed, limit)."""
        return self.command_select + " WHERE status NOT IN (?, ?) ORDER BY pk, sk, version LIMIT ?"

    @cached_property
    def data_raw(self) -> str:
        """The data row, expired or not: (pk, sk)."""
        return self.data_select + " WHERE pk = ? AND sk = ?"

    @cached_property
    def data_live(self) -> str:
        """The unexpired data row: (pk, sk, now)."""
        return self.data_raw + f" AND {_live()}"

    @cached_property
    def data_upsert(self) -> str:
        """Insert or move the data row forward; the first version's created_* stay."""
        updates = ", ".join(f"{c} = excluded.{c}" for c in DATA_COLUMNS if c not in _KEPT_ON_UPDATE)
        return (
            f"INSERT INTO {_q(self.data)} ({_cols(DATA_COLUMNS)}) VALUES ({_marks(DATA_COLUMNS)}) "
            f"ON CONFLICT (pk, sk) DO UPDATE SET {updates} "
            f"WHERE {_q(self.data)}.version < excluded.version"
        )

    @cached_property
    def history_copy(self) -> str:
        """Copy the current data row into history with a new ttl: (ttl, pk, sk)."""
        picked = ", ".join("CAST(? AS BIGINT)" if c == "ttl" else c for c in DATA_COLUMNS)
        return (
            f"INSERT INTO {_q(self.history)} ({_cols(DATA_COLUMNS)}) "
            f"SELECT {picked} FROM {_q(self.data)} WHERE pk = ? AND sk = ? "
            "ON CONFLICT (pk, sk, version) DO NOTHING"
        )

    @cached_property
    def history_one(self) -> str:
        """One unexpired history version: (pk, sk, version, now)."""
        return self.history_select + f" WHERE pk = ? AND sk = ? AND version = ? AND {_live()}"

    @cached_property
    def history_all(self) -> str:
        """An item's unexpired history, oldest first: (pk, sk, now)."""
        return self.history_select + f" WHERE pk = ? AND sk = ? AND {_live()} ORDER BY version"

    def list_data(self, *, prefix: bool, start: bool, descending: bool) -> str:
        """A page of a partition's unexpired data rows: (pk, now[, len, prefix][, start], n)."""
        sql = self.data_select + f" WHERE pk = ? AND {_live()}"
        if prefix:
            sql += " AND substr(sk, 1, ?) = ?"
        if start:
            sql += " AND sk < ?" if descending else " AND sk > ?"
        return sql + (" ORDER BY sk DESC" if descending else " ORDER BY sk") + " LIMIT ?"

    def purge(self, table: str) -> str:
        """Delete one table's expired rows: (now,)."""
        return f"DELETE FROM {_q(table)} WHERE ttl IS NOT NULL AND ttl <= ?"
