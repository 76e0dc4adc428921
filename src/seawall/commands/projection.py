"""Projection of a stored command into the data and history tables, plus DataSyncHandlers.

`project(tx, command_row, handlers)` is idempotent per (pk, sk, version): the history row is
inserted with ON CONFLICT DO NOTHING, the data row only moves forward (an upsert guarded by
`version < excluded.version`), and handlers run only when this call inserted the history row.
Run inside the worker's transaction, a crash mid-projection rolls everything back and the retry
projects from scratch; run twice after a commit, the second run changes nothing.
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
    "DATA_COLUMNS",
    "STATUS_PENDING",
    "STATUS_SYNCED",
    "DataSyncHandler",
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

_MARKS = ", ".join("?" for _ in DATA_COLUMNS)
_HISTORY_INSERT = (
    f"INSERT INTO seawall_command_history ({', '.join(DATA_COLUMNS)}) VALUES ({_MARKS}) "
    "ON CONFLICT (pk, sk, version) DO NOTHING"
)
_DATA_UPSERT = (
    f"INSERT INTO seawall_command_data ({', '.join(DATA_COLUMNS)}) VALUES ({_MARKS}) "
    "ON CONFLICT (pk, sk) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in DATA_COLUMNS if c not in ("pk", "sk"))
    + " WHERE seawall_command_data.version < excluded.version"
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


async def project(tx: Tx, command: Row, handlers: Sequence[DataSyncHandler] = ()) -> bool:
    """Project one stored command; True when this call projected it, False if already done."""
    values = data_values(command)
    fresh = await tx.execute(_HISTORY_INSERT, values) == 1
    await tx.execute(_DATA_UPSERT, values)
    if command["status"] != STATUS_SYNCED:
        await tx.execute(
            _MARK_SYNCED,
            (STATUS_SYNCED, command["pk"], command["sk"], command["version"], STATUS_SYNCED),
        )
    if not fresh or not handlers:
        return fresh
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
    return fresh
