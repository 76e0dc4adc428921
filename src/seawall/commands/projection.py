"""Data sync: a stored command projected into the data and history tables, in version order.

The steps follow the framework's data-sync state machine, per command:

- `check_version`: the data row must be at `version - 1`. Further behind while the previous
  command exists: wait (`PreviousVersionPending`; the worker retries the job). Further behind
  with the previous command missing (a gap): go on, as the framework does. At or past this
  version while this command never finished: the versions do not match; an alarm is raised
  (`VersionGapError`) and the command is marked `check_version:FAILED`.
- `set_ttl_command`: the previous command gets the `command` TTL (when one is configured).
- `history_copy`: the data row as it was (the previous version) is copied to history with the
  `history` TTL, so after v4 history holds v1 to v3.
- `sync_data`: the data row moves to this version (the first version's created_* stay), then
  the DataSyncHandlers run, in the same transaction.
- `finish`: the command's status becomes `finish:FINISHED`.

`project(tx, row, handlers)` is idempotent: a finished command is not projected again.
`insert_projected` is the synchronous publish path: insert the command as
`publish_sync:STARTED`, then run the same steps in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from seawall.commands.errors import CommandError
from seawall.commands.keys import add_sort_key_version
from seawall.commands.models import CommandModel
from seawall.commands.rules import sync_order
from seawall.commands.tables import COMMAND_COLUMNS, DATA_COLUMNS, CommandTables
from seawall.store import Row, Tx

__all__ = [
    "COMMAND_COLUMNS",
    "DATA_COLUMNS",
    "STATUS_FINISHED",
    "STATUS_GAP",
    "STATUS_PENDING",
    "STATUS_SYNC_FAILED",
    "STATUS_SYNC_STARTED",
    "DataSyncHandler",
    "PreviousVersionPending",
    "SyncProgress",
    "VersionGapError",
    "command_status",
    "insert_projected",
    "project",
    "run_handlers",
]

log = logging.getLogger("seawall.commands")

STARTED, FAILED, FINISHED = "STARTED", "FAILED", "FINISHED"


def command_status(step: str, status: str) -> str:
    """The framework's `{step}:{STARTED|FAILED|FINISHED}`."""
    return f"{step}:{status}"


STATUS_SYNC_STARTED = command_status("publish_sync", STARTED)
STATUS_SYNC_FAILED = command_status("publish_sync", FAILED)
STATUS_FINISHED = command_status("finish", FINISHED)
STATUS_PENDING = command_status("publish_async", STARTED)
"""A stored async command its data sync has not run for (the framework leaves it unset)."""
STATUS_GAP = command_status("check_version", FAILED)
"""A command the data row passed while it never finished (alarmed; never synced)."""

TxT = TypeVar("TxT", contravariant=True)
X = TypeVar("X")

TtlFor = Callable[[str, str | None], int | None]
"""`ttl_for(table_type, tenant_code)`: epoch seconds for a new row of that table, or None."""


def _no_ttl(table_type: str, tenant_code: str | None) -> int | None:
    return None


class PreviousVersionPending(CommandError):
    """The previous version of this command is stored but not synced yet: retry later."""

    status_code = 409


class VersionGapError(CommandError):
    """The data row is at or past this command's version although it never finished (alarm)."""

    status_code = 409

    def __init__(self, pk: str, sk: str, next_version: int, version: int) -> None:
        super().__init__(
            f"version is not match on {pk}#{sk}: next version must be {next_version} but got "
            f"{version}"
        )
        self.next_version = next_version
        self.version = version


@dataclass
class SyncProgress:
    """The step a data sync is in (to name it in a `<step>:FAILED` status)."""

    step: str = "check_version"
    row: Row | None = None


@runtime_checkable
class DataSyncHandler(Protocol):
    """Code that reacts to each projected command (the framework's IDataSyncHandler).

    `up` runs in the projection's transaction, once per command version and in version order
    per item, so its database effects commit with the projection. `cmd.sk` is the versioned
    sort key (`sk@version`). When a later handler's `up` fails, `down` runs on the handlers
    that already ran (in reverse order, before the transaction rolls back) to undo effects
    outside the database; the projection is then retried by the queue.
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


async def _lock_item(tx: Tx, command: Row) -> None:
    """Serialise data syncs of one item on PostgreSQL (SQLite has one writer already)."""
    if tx.engine == "postgresql":
        await tx.fetchval(
            "SELECT pg_advisory_xact_lock(hashtextextended(?, 7))",
            (f"{command['pk']}\x1f{command['sk']}",),
        )


async def project(
    tx: Tx,
    command: Row,
    handlers: Sequence[DataSyncHandler] = (),
    *,
    tables: CommandTables | None = None,
    ttl_for: TtlFor = _no_ttl,
    progress: SyncProgress | None = None,
) -> bool:
    """Sync one stored command; True when this call synced it, False if it had finished.

    Raises PreviousVersionPending (wait) or VersionGapError (alarm) from `check_version`.
    """
    tables = tables or CommandTables()
    progress = progress or SyncProgress()
    progress.step = "check_version"
    await _lock_item(tx, command)
    current = await tx.fetchone(tables.command_one, _key(command))
    if current is None:
        log.warning("data sync of a command that is not stored", extra={"sk": command["sk"]})
        return False
    if current["status"] == STATUS_FINISHED:
        return False
    await _check_version(tx, tables, current)
    await _steps(tx, tables, dict(current), handlers, ttl_for, progress)
    return True


async def insert_projected(
    tx: Tx,
    command: Row,
    handlers: Sequence[DataSyncHandler] = (),
    *,
    tables: CommandTables | None = None,
    ttl_for: TtlFor = _no_ttl,
    progress: SyncProgress | None = None,
) -> bool:
    """Insert a `publish_sync:STARTED` command and sync it; False (nothing written) if the
    version exists. The caller checked the version against the data row."""
    tables = tables or CommandTables()
    progress = progress or SyncProgress("publish_sync")
    if command["status"] != STATUS_SYNC_STARTED:
        raise ValueError("insert_projected stores publish_sync:STARTED commands only")
    if await tx.execute(tables.command_insert, tuple(command[c] for c in COMMAND_COLUMNS)) != 1:
        return False
    await _steps(tx, tables, command, handlers, ttl_for, progress)
    return True


def _key(command: Row) -> tuple[Any, ...]:
    return (command["pk"], command["sk"], int(command["version"]))


async def _check_version(tx: Tx, tables: CommandTables, command: Row) -> None:
    pk, sk, version = _key(command)
    data = await tx.fetchone(tables.data_raw, (pk, sk))
    data_version = int(data["version"]) if data is not None else 0
    order = sync_order(version, data_version)
    if order == "next":
        return
    if order == "ahead":
        if await tx.fetchone(tables.command_one, (pk, sk, version - 1)) is not None:
            raise PreviousVersionPending(
                f"{pk}#{sk}@{version} waits for version {version - 1} to be synced"
            )
        return  # a gap in the commands (expired or never stored): go on, as the framework
    raise VersionGapError(pk, sk, data_version + 1, version)


async def _steps(
    tx: Tx,
    tables: CommandTables,
    command: Row,
    handlers: Sequence[DataSyncHandler],
    ttl_for: TtlFor,
    progress: SyncProgress,
) -> None:
    pk, sk, version = _key(command)
    tenant = command["tenant_code"] or None
    progress.step = "set_ttl_command"
    if version > 1:
        ttl = ttl_for("command", tenant)
        if ttl is not None:
            await tx.execute(tables.command_set_ttl, (ttl, pk, sk, version - 1))
    progress.step = "history_copy"
    await tx.execute(tables.history_copy, (ttl_for("history", tenant), pk, sk))
    progress.step = "sync_data"
    await tx.execute(tables.data_upsert, data_values(command))
    if handlers:
        await run_handlers(CommandModel.from_row(command), handlers, tx)
    progress.step = "finish"
    await tx.execute(tables.command_set_status, (STATUS_FINISHED, pk, sk, version))
    command["status"] = STATUS_FINISHED


class _Handler(Protocol[TxT]):
    async def up(self, cmd: CommandModel, tx: TxT) -> None: ...

    async def down(self, cmd: CommandModel) -> None: ...


async def run_handlers(model: CommandModel, handlers: Sequence[_Handler[X]], tx: X) -> None:
    """Run each handler's `up(model, tx)` in order; when one fails, `down(model)` runs on those
    that already ran, in reverse order (a failing `down` is logged), and the error is raised.
    Both engines' handlers (their `tx` a SQL Tx or a DynamoTx) run by this rule."""
    done: list[_Handler[X]] = []
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
