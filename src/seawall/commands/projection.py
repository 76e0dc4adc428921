"""Projection of a stored command into the data and history tables, plus DataSyncHandlers.

`project(tx, command_row, handlers)` is idempotent per (pk, sk, version): the history row is
inserted with ON CONFLICT DO NOTHING, the data row only moves forward (an upsert guarded by
`version < excluded.version`), and handlers run only when this call inserted the history row.
Run inside the worker's transaction, a crash mid-projection rolls everything back and the retry
projects from scratch; run twice after a commit, the second run changes nothing.

`insert_projected(tx, command_row, handlers)` is the synchronous publish path: it inserts the
command (unique on pk, sk, version) and, when the insert won, projects it in the same
transaction. On PostgreSQL the insert, the history row and the data upsert go in one statement
(data-modifying CTEs), one round trip instead of three; SQLite runs them as three statements on
the writer connection, where each costs microseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from seawall.commands.keys import add_sort_key_version
from seawall.commands.models import CommandModel
from seawall.store import Row, Tx

__all__ = [
    "COMMAND_COLUMNS",
    "COMMAND_INSERT",
    "DATA_COLUMNS",
    "STATUS_PENDING",
    "STATUS_SYNCED",
    "DataSyncHandler",
    "insert_projected",
    "project",
]

log = logging.getLogger("seawall.commands")

STATUS_PENDING = "pending"
STATUS_SYNCED = "synced"

_COMMON = (
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
_AUDIT = (
    "source",
    "request_id",
    "created_at",
    "created_by",
    "created_ip",
    "updated_at",
    "updated_by",
    "updated_ip",
)
COMMAND_COLUMNS = (*_COMMON, "status", *_AUDIT)
DATA_COLUMNS = (*_COMMON, "cpk", "csk", *_AUDIT)

COMMAND_INSERT = (
    f"INSERT INTO seawall_commands ({', '.join(COMMAND_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COMMAND_COLUMNS)}) "
    "ON CONFLICT (pk, sk, version) DO NOTHING"
)
_MARKS = ", ".join("?" for _ in DATA_COLUMNS)
_HISTORY_INSERT = (
    f"INSERT INTO seawall_command_history ({', '.join(DATA_COLUMNS)}) VALUES ({_MARKS}) "
    "ON CONFLICT (pk, sk, version) DO NOTHING"
)
_DATA_FORWARD = (
    "ON CONFLICT (pk, sk) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in DATA_COLUMNS if c not in ("pk", "sk"))
    + " WHERE seawall_command_data.version < excluded.version"
)
_DATA_UPSERT = (
    f"INSERT INTO seawall_command_data ({', '.join(DATA_COLUMNS)}) VALUES ({_MARKS}) "
    + _DATA_FORWARD
)
# PostgreSQL: command, history and data in one statement. `c` yields the inserted command (no
# row when (pk, sk, version) already exists, and then nothing else is written); the history and
# data rows are built from it, with the versioned sort key `csk` as the one extra parameter.
_FROM_COMMAND = (
    f"SELECT {', '.join(_COMMON)}, pk, CAST(? AS TEXT), {', '.join(_AUDIT)} FROM inserted_command"
)
_PG_INSERT_PROJECTED = (
    f"WITH inserted_command AS ({COMMAND_INSERT} RETURNING {', '.join(COMMAND_COLUMNS)}), "
    f"history AS (INSERT INTO seawall_command_history ({', '.join(DATA_COLUMNS)}) "
    f"{_FROM_COMMAND} ON CONFLICT (pk, sk, version) DO NOTHING RETURNING 1), "
    f"data AS (INSERT INTO seawall_command_data ({', '.join(DATA_COLUMNS)}) "
    f"{_FROM_COMMAND} {_DATA_FORWARD} RETURNING 1) "
    "SELECT (SELECT count(*) FROM inserted_command) AS inserted, "
    "(SELECT count(*) FROM history) AS fresh"
)
_MARK_SYNCED = (
    "UPDATE seawall_commands SET status = ? WHERE pk = ? AND sk = ? AND version = ? AND status <> ?"
)


@runtime_checkable
class DataSyncHandler(Protocol):
    """Code that reacts to each projected command (the framework's IDataSyncHandler).

    `up` runs in the projection's transaction, once per command version, so its database
    effects commit with the projection. When a later handler's `up` fails, `down` runs on the
    handlers that already ran (in reverse order, before the transaction rolls back) to undo
    effects outside the database; the projection is then retried by the queue.
    """

    name: str

    async def up(self, cmd: CommandModel, tx: Tx) -> None:
        """Apply the command's effects."""
        ...

    async def down(self, cmd: CommandModel) -> None:
        """Compensate effects of `up` that a database rollback cannot undo."""
        ...


def data_values(command: Row) -> tuple[object, ...]:
    """The data/history column values for a stored command row."""
    values = dict(command)
    values["cpk"] = command["pk"]
    values["csk"] = add_sort_key_version(command["sk"], int(command["version"]))
    return tuple(values[c] for c in DATA_COLUMNS)


async def _write(tx: Tx, command: Row) -> bool:
    """Write the history and data rows; True when the history row is new."""
    values = data_values(command)
    fresh = await tx.execute(_HISTORY_INSERT, values) == 1
    await tx.execute(_DATA_UPSERT, values)
    if command["status"] != STATUS_SYNCED:
        await tx.execute(
            _MARK_SYNCED,
            (STATUS_SYNCED, command["pk"], command["sk"], command["version"], STATUS_SYNCED),
        )
    return fresh


async def project(tx: Tx, command: Row, handlers: Sequence[DataSyncHandler] = ()) -> bool:
    """Project one stored command; True when this call projected it, False if already done."""
    fresh = await _write(tx, command)
    if fresh and handlers:
        await _run_handlers(tx, command, handlers)
    return fresh


async def insert_projected(tx: Tx, command: Row, handlers: Sequence[DataSyncHandler] = ()) -> bool:
    """Insert a `synced` command row and project it; False (nothing written) if it exists."""
    if command["status"] != STATUS_SYNCED:
        raise ValueError("insert_projected stores synced commands only")
    if tx.engine == "postgresql":
        csk = add_sort_key_version(command["sk"], int(command["version"]))
        params = (*(command[c] for c in COMMAND_COLUMNS), csk, csk)
        counts = await tx.fetchone(_PG_INSERT_PROJECTED, params)
        if counts is None or int(counts["inserted"]) != 1:
            return False
        fresh = int(counts["fresh"]) == 1
    else:
        if await tx.execute(COMMAND_INSERT, tuple(command[c] for c in COMMAND_COLUMNS)) != 1:
            return False
        fresh = await _write(tx, command)
    if fresh and handlers:
        await _run_handlers(tx, command, handlers)
    return True


async def _run_handlers(tx: Tx, command: Row, handlers: Sequence[DataSyncHandler]) -> None:
    model = CommandModel.from_row({**command, "status": STATUS_SYNCED})
    done: list[DataSyncHandler] = []
    try:
        for handler in handlers:
            await handler.up(model, tx)
            done.append(handler)
    except BaseException:
        for handler in reversed(done):
            try:
                await handler.down(model)
            except Exception:
                log.exception(
                    "data-sync handler down() failed",
                    extra={"handler": getattr(handler, "name", type(handler).__name__)},
                )
        raise
