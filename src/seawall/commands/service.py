"""`CommandService`: the framework's command module on a seawall store (publishing here; data
sync in `data_sync`, reads in `queries`, handlers, TTL and notifications in `core`).

Version rules (input `version` is the version a change is based on; stored versions start at 1;
a missing version is 0). Errors answer as the framework does: 400 for a version that does not
fit (VersionMismatchError, CommandNotFoundError), 409 for a lost race (VersionConflictError).

- `publish_sync`: checked against the DATA table. 0 creates (400 if the item exists); -1 builds
  on the data row's version (or creates); N must equal the data row's version, else 400.
- `publish_async`: -1 builds on the latest command; N only needs the command `sk@N` to exist
  (400 if not); the next version `sk@N+1` must then be free (409 if another publish took it).
- `publish_partial_update_sync`: the data row must exist and `version` must equal its version
  (400 otherwise; -1 is not accepted, as in the framework). The given fields are merged onto the
  data row (a null overwrites; see models) and published with `publish_sync`.
- `publish_partial_update_async`: merged onto the command `sk@N` (or the latest with 0 / -1) and
  published with `publish_async`.
- A command equal to what it is based on (same fields and attributes) is not stored: None.

Each command is stored as its own row with the versioned sort key `sk@version` (returned as
`cmd.sk`), its own `createdAt/By/Ip` and a status: `publish_sync:STARTED` then `finish:FINISHED`
for sync publishes; `publish_async:STARTED` (stored, not synced) then `finish:FINISHED` for async
ones; `<step>:FAILED` when a data-sync step fails. Each status change is announced to the
notification hooks (`add_notifier`) as a `command-status` notification, and a version gap as an
`sfn-alarm`, like the framework's SNS messages.

Concurrency: commands are unique on (pk, sk, version) and inserted with ON CONFLICT DO NOTHING,
so of N concurrent publishes based on the same version exactly one is stored, on both engines;
with -1 a lost race is retried on the new latest version.

`publish_async` stores the command and enqueues a data-sync job in ONE transaction (outbox); a
worker registered with `register_worker` syncs it (see `projection`): per item in version order
(a job whose previous version is not synced yet waits and is retried), history gets the data as
it was before the change, then the DataSyncHandlers run. `publish_sync` runs the same steps in
the publishing transaction itself.

The caller's transaction: every publish method takes `tx=`. The command (and, for the `_sync`
forms, its projection and the DataSyncHandlers' writes; for the `_async` forms, its data-sync
job) is then written in that transaction instead of a new one, and commits or rolls back with
it. A VersionMismatchError (or a None for an unchanged command) writes nothing, so the caller
may go on or roll back; after any other error the caller's transaction must be rolled back.
Status notifications of a publish in the caller's transaction are sent when the publish
returns, before the caller commits. Do not open a second transaction of the same store while
holding the caller's (SQLite has one writer: it would wait for itself).

TTL: `ttl_days` gives days per table type (`command`, `data`, `history`), as the framework's
master data does: a new command (and its data row) gets the `data` TTL unless it carries its own
`ttl`; the previous command gets the `command` TTL when the next version syncs; a history row
gets the `history` TTL. Rows whose ttl has passed are not read any more; `purge_expired`
deletes them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Protocol

from seawall.clock import Clock
from seawall.commands.api import CommandApi, DetailKey, ItemPage
from seawall.commands.context import InvokeContext
from seawall.commands.data_sync import SqlDataSync
from seawall.commands.errors import (
    CommandError,
    CommandNotFoundError,
)
from seawall.commands.keys import VERSION_FIRST, remove_sort_key_version
from seawall.commands.models import CommandInputModel, CommandModel, CommandPartialInputModel
from seawall.commands.projection import (
    STATUS_FINISHED,
    STATUS_PENDING,
    STATUS_SYNC_FAILED,
    STATUS_SYNC_STARTED,
    SyncProgress,
    insert_projected,
)
from seawall.commands.publishing import store_next_async, store_next_sync
from seawall.commands.queries import SqlCommandQueries
from seawall.commands.rules import (
    CommandNotification,
    Notifier,
    TtlDays,
    as_input,
    as_partial,
    check_partial_sync,
    deep_merge,
    merge_partial,
    same_fields,
    same_json,
)
from seawall.commands.tables import COMMAND_COLUMNS, CommandTables
from seawall.store import Row, Store, Tx

__all__ = [
    "DATA_SYNC_QUEUE",
    "CommandNotification",
    "CommandService",
    "DetailKey",
    "ItemPage",
    "deep_merge",
]

DATA_SYNC_QUEUE = "seawall.commands.data-sync"


class _Enqueuer(Protocol):
    async def enqueue(
        self, queue_name: str, payload: dict[str, Any], *, tx: Tx | None = None
    ) -> str | None: ...


class _Worker(Protocol):
    def register(self, queue_name: str, handler: Any, *, commit_block: bool = False) -> Any: ...


def _unchanged(base: Row, item: CommandInputModel, encoded: str) -> bool:
    """True when `item` (attributes `encoded` as stored) equals the stored row it is based on."""
    if not same_fields(base, item):
        return False
    stored: str = base["attributes"]
    if stored == encoded:
        return True
    # Both texts come from the same encoder, so equal objects differ at most in key order,
    # which keeps the length: a different length settles it without decoding.
    if len(stored) != len(encoded):
        return False
    return same_json(json.loads(stored), item.attributes)


class CommandService(SqlCommandQueries, SqlDataSync):
    """Publishes versioned commands and serves their projections (see the module docstring).

    `module` (with `env`/`app`, defaulting to NODE_ENV/APP_NAME) uses the framework's table
    names `{env}-{app}-{module}-command|data|history` (create them with `create_tables`);
    without it the service uses seawall's migrated `seawall_command*` tables.
    """

    joins_caller_transactions = True
    """Publish and read take a caller's transaction (`tx=`)."""

    def __init__(
        self,
        store: Store,
        *,
        queue: _Enqueuer | None = None,
        clock: Clock | None = None,
        source: str = "seawall",
        module: str | None = None,
        env: str | None = None,
        app: str | None = None,
        ttl_days: TtlDays | None = None,
        notify: Notifier | None = None,
        data_sync_wait: float = 1.0,
    ) -> None:
        super().__init__(
            CommandTables()
            if module is None
            else CommandTables.for_module(module, env=env, app=app),
            clock=clock or store.clock,
            source=source,
            ttl_days=ttl_days,
            notify=notify,
        )
        self.store = store
        self.data_sync_queue = (
            DATA_SYNC_QUEUE if module is None else f"{DATA_SYNC_QUEUE}:{self.tables.command}"
        )
        self.data_sync_wait = data_sync_wait
        self._queue = queue

    # -- wiring ------------------------------------------------------------------------------

    async def create_tables(self) -> None:
        """Create this module's tables (idempotent); the default ones come from `migrate()`."""
        async with self.store.transaction() as tx:
            await self.tables.create(tx)

    def register_worker(self, worker: _Worker) -> None:
        """Let `worker` run data-sync jobs; a job's sync and its ack commit together."""
        worker.register(self.data_sync_queue, self.handle_data_sync_run, commit_block=True)

    def _get_queue(self) -> _Enqueuer:
        if self._queue is None:
            try:
                from seawall.jobs import Queue
            except ImportError as exc:  # pragma: no cover - the queue ships with seawall
                raise CommandError(
                    "publish_async needs the job queue (seawall.jobs); use publish_sync instead"
                ) from exc
            self._queue = Queue(self.store)
        return self._queue

    # -- publishing --------------------------------------------------------------------------

    def _transaction(self, tx: Tx | None) -> AbstractAsyncContextManager[Tx]:
        """`tx` itself when the caller gives one, else a new transaction of the store."""
        if tx is not None:
            return nullcontext(tx)
        return self.store.transaction()

    async def publish_async(
        self,
        input: CommandInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
        tx: Tx | None = None,
    ) -> CommandModel | None:
        """Store the command and enqueue its data-sync job in one transaction; None if unchanged.

        With `tx`, both are written in the caller's transaction and commit (or roll back) with it.
        """
        item = as_input(input)
        queue = self._get_queue()
        async with self._transaction(tx) as work:
            row = await self._store_async(work, item, invoke_context, source, request_id)
            if row is None:
                return None
            await queue.enqueue(
                self.data_sync_queue,
                {"pk": row["pk"], "sk": row["sk"], "version": row["version"]},
                tx=work,
            )
        return CommandModel.from_row(row)

    async def publish_sync(
        self,
        input: CommandInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
        tx: Tx | None = None,
    ) -> CommandModel | None:
        """Store the command and sync it in the same transaction; None if unchanged.

        With `tx`, the command, its projection and the DataSyncHandlers' writes go into the
        caller's transaction (see the module docstring).
        """
        item = as_input(input)
        return await self._publish_sync(
            tx, lambda work: _ready(item), invoke_context, source, request_id
        )

    async def _publish_sync(
        self,
        tx: Tx | None,
        build: Callable[[Tx], Awaitable[CommandInputModel]],
        ctx: InvokeContext,
        source: str | None,
        request_id: str | None,
    ) -> CommandModel | None:
        """Build the input in the transaction, store and sync it; announce the status after
        the commit (or, in the caller's transaction, when done)."""
        progress = SyncProgress("publish_sync")
        try:
            async with self._transaction(tx) as work:
                item = await build(work)
                row = await self._store_sync(work, item, ctx, source, request_id, progress)
        except Exception:
            failed = progress.row
            if progress.step != "publish_sync" and failed is not None:
                await self._announce([self._note(failed, STATUS_SYNC_FAILED)])
            raise
        if row is None:
            return None
        await self._announce([self._note(row, STATUS_FINISHED)])
        return CommandModel.from_row(row)

    async def publish_partial_update_async(
        self,
        input: CommandPartialInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
        tx: Tx | None = None,
    ) -> CommandModel | None:
        """Merge the given fields onto command `sk@version` (the latest for 0 or -1) and publish
        it asynchronously; CommandNotFoundError (400) when there is none."""
        partial = as_partial(input)
        sk = remove_sort_key_version(partial.sk)
        async with self._transaction(tx) as work:
            if partial.version > VERSION_FIRST:
                base = await work.fetchone(
                    self.tables.command_live, (partial.pk, sk, partial.version, self._now())
                )
            else:
                base = await work.fetchone(
                    self.tables.command_latest, (partial.pk, sk, self._now())
                )
            if base is None:
                raise CommandNotFoundError(partial.pk, sk)
            merged = merge_partial(base, partial)
            return await self.publish_async(
                merged,
                invoke_context=invoke_context,
                source=source,
                request_id=request_id,
                tx=work,
            )

    async def publish_partial_update_sync(
        self,
        input: CommandPartialInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
        tx: Tx | None = None,
    ) -> CommandModel | None:
        """Merge the given fields onto the data row, whose version `input.version` must be, and
        publish it synchronously; 400 when the item is missing or the version differs."""
        partial = as_partial(input)
        sk = remove_sort_key_version(partial.sk)

        async def build(work: Tx) -> CommandInputModel:
            data = await work.fetchone(self.tables.data_live, (partial.pk, sk, self._now()))
            current = None if data is None else int(data["version"])
            check_partial_sync(partial.pk, sk, partial.version, current)
            assert data is not None
            return merge_partial(data, partial)

        return await self._publish_sync(tx, build, invoke_context, source, request_id)

    async def _store_sync(
        self,
        tx: Tx,
        item: CommandInputModel,
        ctx: InvokeContext,
        source: str | None,
        request_id: str | None,
        progress: SyncProgress,
    ) -> Row | None:
        """Check the version against the data row, insert the next version and sync it."""
        sk = remove_sort_key_version(item.sk)
        encoded = json.dumps(item.attributes, separators=(",", ":"))

        async def data() -> Row | None:
            return await tx.fetchone(self.tables.data_live, (item.pk, sk, self._now()))

        def new_row(given: CommandInputModel, version: int) -> Row:
            return self._new_command(
                given,
                version,
                STATUS_SYNC_STARTED,
                ctx,
                source,
                request_id,
                now=self.clock.time(),
                attributes=encoded,
            )

        async def commit(row: Row) -> bool:
            progress.row = row
            if await insert_projected(
                tx,
                row,
                self._handlers,
                tables=self.tables,
                ttl_for=self.ttl_for,
                progress=progress,
            ):
                return True
            progress.row = None
            return False

        return await store_next_sync(
            item.pk,
            sk,
            data=data,
            build=lambda _: item,
            unchanged=lambda base, given: _unchanged(base, given, encoded),
            new_row=new_row,
            commit=commit,
            max_version=lambda: self._max(tx, item.pk, sk),
        )

    async def _store_async(
        self,
        tx: Tx,
        item: CommandInputModel,
        ctx: InvokeContext,
        source: str | None,
        request_id: str | None,
    ) -> Row | None:
        """Check the version against the commands and insert the next version (not synced)."""
        sk = remove_sort_key_version(item.sk)
        encoded = json.dumps(item.attributes, separators=(",", ":"))

        async def latest() -> Row | None:
            return await tx.fetchone(self.tables.command_latest, (item.pk, sk, self._now()))

        async def command_at(version: int) -> Row | None:
            return await tx.fetchone(self.tables.command_live, (item.pk, sk, version, self._now()))

        def new_row(version: int) -> Row:
            return self._new_command(
                item,
                version,
                STATUS_PENDING,
                ctx,
                source,
                request_id,
                now=self.clock.time(),
                attributes=encoded,
            )

        async def insert(row: Row) -> bool:
            values = tuple(row[c] for c in COMMAND_COLUMNS)
            return await tx.execute(self.tables.command_insert, values) == 1

        return await store_next_async(
            item,
            sk,
            latest=latest,
            command_at=command_at,
            max_version=lambda: self._max(tx, item.pk, sk),
            unchanged=lambda base: _unchanged(base, item, encoded),
            new_row=new_row,
            insert=insert,
        )

    async def _max(self, tx: Tx, pk: str, sk: str) -> int:
        return int(await tx.fetchval(self.tables.command_max_version, (pk, sk)) or 0)


async def _ready(item: CommandInputModel) -> CommandInputModel:
    return item


def _implements_command_api(service: CommandService) -> CommandApi:
    """A static check (mypy) that CommandService offers the CommandApi every backend shares."""
    return service
