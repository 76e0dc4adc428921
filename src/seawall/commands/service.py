"""`CommandService`: the framework's command module on a seawall store.

Version rules (input `version` is the version a change is based on; stored versions start at 1):

- `VERSION_FIRST` (0) creates the item; if it exists (even soft-deleted), VersionConflictError
  (409); revive a deleted item by publishing on its latest version.
- `VERSION_LATEST` (-1) publishes on top of whatever is latest (retrying if a concurrent
  publish wins the race).
- Any other N must equal the latest version, else VersionConflictError carrying expected/actual.
- A command identical to the latest one (same fields and attributes) is not stored: None.

Concurrency: commands are unique on (pk, sk, version) and inserted with ON CONFLICT DO NOTHING,
so of N concurrent publishes based on the same version exactly one is stored, on both engines.

`publish_async` stores the command and enqueues a data-sync job in ONE transaction (outbox); a
worker registered with `register_worker` projects it into the data and history tables and runs
the DataSyncHandlers. `publish_sync` projects in the publishing transaction itself. Data-sync
jobs for different versions may run in any order: the data row keeps the highest version, and
history holds every version.

The caller's transaction: every publish method takes `tx=`. The command (and, for the `_sync`
forms, its projection and the DataSyncHandlers' writes; for the `_async` forms, its data-sync
job) is then written in that transaction instead of a new one, and commits or rolls back with
it: a webhook handler records its effects together with the inbox's processed mark and the job
ack. A VersionConflictError (or a None for an unchanged command) writes nothing, so the caller
may go on or roll back; after any other error the caller's transaction must be rolled back.
Read the version to build on with `get_latest_item(pk, sk, tx=tx)`. Do not open a second
transaction of the same store while holding the caller's (SQLite has one writer: it would wait
for itself).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from seawall.clock import Clock
from seawall.commands.context import InvokeContext, get_user_context
from seawall.commands.errors import CommandError, CommandNotFoundError, VersionConflictError
from seawall.commands.keys import (
    VERSION_LATEST,
    get_sort_key_version,
    remove_sort_key_version,
)
from seawall.commands.models import (
    CommandInputModel,
    CommandModel,
    CommandPartialInputModel,
    DataModel,
)
from seawall.commands.projection import (
    COMMAND_COLUMNS,
    COMMAND_INSERT,
    DATA_COLUMNS,
    STATUS_PENDING,
    STATUS_SYNCED,
    DataSyncHandler,
    insert_projected,
    project,
)
from seawall.store import Row, Store, Tx

__all__ = ["DATA_SYNC_QUEUE", "CommandService", "DetailKey", "ItemPage", "deep_merge"]

log = logging.getLogger("seawall.commands")

DATA_SYNC_QUEUE = "seawall.commands.data-sync"
_LATEST_RETRIES = 20
_COMPARED = ("id", "code", "name", "tenant_code", "type", "seq", "ttl")

_COMMAND_SELECT = f"SELECT {', '.join(COMMAND_COLUMNS)} FROM seawall_commands"
_DATA_SELECT = f"SELECT {', '.join(DATA_COLUMNS)} FROM seawall_command_data"
_HISTORY_SELECT = f"SELECT {', '.join(DATA_COLUMNS)} FROM seawall_command_history"
_LATEST = _COMMAND_SELECT + " WHERE pk = ? AND sk = ? ORDER BY version DESC LIMIT 1"


class _Enqueuer(Protocol):
    async def enqueue(
        self, queue_name: str, payload: dict[str, Any], *, tx: Tx | None = None
    ) -> str | None: ...


class _Worker(Protocol):
    def register(self, queue_name: str, handler: Any, *, transactional: bool = True) -> Any: ...


@dataclass(frozen=True, slots=True)
class DetailKey:
    """An item key; `sk` may carry a version suffix (`sk@3`) to name one version."""

    pk: str
    sk: str


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One page of a listing; pass `cursor` back to get the next page (None at the end)."""

    items: list[DataModel]
    cursor: str | None


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `patch` merged in: nested objects merge key by key; anything else replaces."""
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _canonical(attributes: Any) -> str:
    return json.dumps(attributes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _unchanged(latest: Row, item: CommandInputModel, encoded: str) -> bool:
    """True when `item` (attributes `encoded` as stored) equals the latest stored command."""
    if any(latest[name] != getattr(item, name) for name in _COMPARED):
        return False
    if bool(latest["is_deleted"]) != item.is_deleted:
        return False
    stored: str = latest["attributes"]
    if stored == encoded:
        return True
    # Both texts come from the same encoder, so equal objects differ at most in key order,
    # which keeps the length: a different length settles it without decoding. Decoded values
    # that differ settle it too (decoding is cheaper than canonical encoding); equal ones may
    # still differ in JSON (1 == 1.0 == true), which the canonical texts decide.
    if len(stored) != len(encoded):
        return False
    current = json.loads(stored)
    if current != json.loads(encoded):
        return False
    return _canonical(current) == _canonical(item.attributes)


def _encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(
            f"invalid listing cursor {cursor!r}; pass back a cursor as returned"
        ) from exc


class CommandService:
    """Publishes versioned commands and serves their projections (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        queue: _Enqueuer | None = None,
        clock: Clock | None = None,
        source: str = "seawall",
    ) -> None:
        self.store = store
        self.clock = clock or store.clock
        self.default_source = source
        self._queue = queue
        self._handlers: list[DataSyncHandler] = []

    # -- wiring ------------------------------------------------------------------------------

    def register_data_sync_handler(self, handler: DataSyncHandler) -> None:
        """Run `handler.up(cmd, tx)` for every projected command, after the ones added before."""
        if not callable(getattr(handler, "up", None)) or not callable(
            getattr(handler, "down", None)
        ):
            raise TypeError("a DataSyncHandler needs async up(cmd, tx) and down(cmd) methods")
        self._handlers.append(handler)

    @property
    def data_sync_handlers(self) -> tuple[DataSyncHandler, ...]:
        """The registered handlers, in run order."""
        return tuple(self._handlers)

    def register_worker(self, worker: _Worker) -> None:
        """Let `worker` project data-sync jobs; projection and ack commit together."""
        worker.register(DATA_SYNC_QUEUE, self.handle_data_sync_job, transactional=True)

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

    async def handle_data_sync_job(self, job: Any, tx: Tx) -> None:
        """Worker handler: project the command named by the job's payload in `tx`."""
        payload = job.payload
        row = await tx.fetchone(
            _COMMAND_SELECT + " WHERE pk = ? AND sk = ? AND version = ?",
            (payload["pk"], payload["sk"], int(payload["version"])),
        )
        if row is None:
            log.warning("data-sync job names no stored command", extra={"payload": payload})
            return
        await project(tx, row, self._handlers)

    async def sync_pending(self, *, limit: int = 100) -> int:
        """Project commands still pending (repair after lost jobs); return how many."""
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(
                _COMMAND_SELECT + " WHERE status = ? ORDER BY updated_at, pk, sk, version LIMIT ?",
                (STATUS_PENDING, limit),
            )
            count = 0
            for row in rows:
                if await project(tx, row, self._handlers):
                    count += 1
        return count

    # -- publishing --------------------------------------------------------------------------

    def _transaction(self, tx: Tx | None) -> AbstractAsyncContextManager[Tx]:
        """`tx` itself when the caller gives one, else a new transaction of the store."""
        if tx is not None:
            return nullcontext(tx)
        return self.store.transaction()

    def _reading(self, tx: Tx | None) -> AbstractAsyncContextManager[Tx]:
        """`tx` itself when the caller gives one, else a read snapshot of the store."""
        if tx is not None:
            return nullcontext(tx)
        return self.store.read()

    async def _enqueue_sync(self, queue: _Enqueuer, tx: Tx, row: Row) -> None:
        await queue.enqueue(
            DATA_SYNC_QUEUE,
            {"pk": row["pk"], "sk": row["sk"], "version": row["version"]},
            tx=tx,
        )

    async def publish_async(
        self,
        input: CommandInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        tx: Tx | None = None,
    ) -> CommandModel | None:
        """Store the command and enqueue its data-sync job in one transaction; None if unchanged.

        With `tx`, both are written in the caller's transaction and commit (or roll back) with it.
        """
        item = _full(input)
        queue = self._get_queue()
        async with self._transaction(tx) as work:
            row = await self._store_command(work, item, invoke_context, source)
            if row is None:
                return None
            await self._enqueue_sync(queue, work, row)
        return CommandModel.from_row(row)

    async def publish_sync(
        self,
        input: CommandInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        tx: Tx | None = None,
    ) -> CommandModel | None:
        """Store the command and project it in the same transaction; None if unchanged.

        With `tx`, the command, its projection and the DataSyncHandlers' writes go into the
        caller's transaction (see the module docstring).
        """
        item = _full(input)
        async with self._transaction(tx) as work:
            row = await self._store_command(
                work, item, invoke_context, source, STATUS_SYNCED, handlers=self._handlers
            )
        return None if row is None else CommandModel.from_row(row)

    async def publish_partial_update_async(
        self,
        input: CommandPartialInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        tx: Tx | None = None,
    ) -> CommandModel | None:
        """Deep-merge the given fields onto the latest command and publish it asynchronously."""
        partial = _partial(input)
        queue = self._get_queue()
        async with self._transaction(tx) as work:
            row = await self._store_partial(work, partial, invoke_context, source)
            if row is None:
                return None
            await self._enqueue_sync(queue, work, row)
        return CommandModel.from_row(row)

    async def publish_partial_update_sync(
        self,
        input: CommandPartialInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        tx: Tx | None = None,
    ) -> CommandModel | None:
        """Deep-merge the given fields onto the latest command and project it at once."""
        partial = _partial(input)
        async with self._transaction(tx) as work:
            row = await self._store_partial(
                work, partial, invoke_context, source, STATUS_SYNCED, handlers=self._handlers
            )
        return None if row is None else CommandModel.from_row(row)

    async def _store_partial(
        self,
        tx: Tx,
        partial: CommandPartialInputModel,
        ctx: InvokeContext,
        source: str | None,
        status: str = STATUS_PENDING,
        handlers: Sequence[DataSyncHandler] = (),
    ) -> Row | None:
        sk = remove_sort_key_version(partial.sk)
        for _ in range(_LATEST_RETRIES):
            latest = await tx.fetchone(_LATEST, (partial.pk, sk))
            if latest is None:
                raise CommandNotFoundError(partial.pk, sk)
            version = int(latest["version"])
            if partial.version not in (VERSION_LATEST, version):
                raise VersionConflictError(partial.pk, sk, partial.version, version)
            attributes = json.loads(latest["attributes"])
            merged = CommandInputModel(
                pk=partial.pk,
                sk=sk,
                id=latest["id"],
                code=_pick(partial.code, latest["code"]),
                name=_pick(partial.name, latest["name"]),
                version=version,
                tenant_code=_pick(partial.tenant_code, latest["tenant_code"]),
                type=_pick(partial.type, latest["type"]),
                is_deleted=_pick(partial.is_deleted, bool(latest["is_deleted"])),
                seq=_pick(partial.seq, latest["seq"]),
                ttl=_pick(partial.ttl, latest["ttl"]),
                attributes=deep_merge(attributes, partial.attributes or {}),
            )
            try:
                return await self._store_command(tx, merged, ctx, source, status, handlers)
            except VersionConflictError:
                if partial.version != VERSION_LATEST:
                    raise
        raise VersionConflictError(partial.pk, sk, partial.version, -1)

    async def _store_command(
        self,
        tx: Tx,
        item: CommandInputModel,
        ctx: InvokeContext,
        source: str | None,
        status: str = STATUS_PENDING,
        handlers: Sequence[DataSyncHandler] = (),
    ) -> Row | None:
        """Insert the next version of `item` per the version rules; None when unchanged.

        A `synced` command is projected in `tx` as it is inserted (running `handlers`); a
        `pending` one is left for the data-sync worker. A conflict writes nothing, so `tx` stays
        usable after a VersionConflictError.
        """
        sk = remove_sort_key_version(item.sk)
        user = get_user_context(ctx)
        encoded = json.dumps(item.attributes, separators=(",", ":"))
        for _ in range(_LATEST_RETRIES):
            latest = await tx.fetchone(_LATEST, (item.pk, sk))
            current = 0 if latest is None else int(latest["version"])
            if item.version != VERSION_LATEST and item.version != current:
                raise VersionConflictError(item.pk, sk, item.version, current)
            if latest is not None and _unchanged(latest, item, encoded):
                return None
            now = self.clock.time()
            row: Row = {
                "pk": item.pk,
                "sk": sk,
                "version": current + 1,
                "id": item.id,
                "code": item.code,
                "name": item.name,
                "tenant_code": item.tenant_code,
                "type": item.type,
                "is_deleted": 1 if item.is_deleted else 0,
                "seq": item.seq,
                "ttl": item.ttl,
                "attributes": encoded,
                "status": status,
                "source": source or ctx.source or self.default_source,
                "request_id": ctx.request_id,
                "created_at": now if latest is None else latest["created_at"],
                "created_by": user.user_id if latest is None else latest["created_by"],
                "created_ip": ctx.source_ip if latest is None else latest["created_ip"],
                "updated_at": now,
                "updated_by": user.user_id,
                "updated_ip": ctx.source_ip,
            }
            if status == STATUS_SYNCED:
                inserted = await insert_projected(tx, row, handlers)
            else:
                values = tuple(row[c] for c in COMMAND_COLUMNS)
                inserted = await tx.execute(COMMAND_INSERT, values) == 1
            if inserted:
                return row
            if item.version != VERSION_LATEST:
                actual = await tx.fetchval(
                    "SELECT MAX(version) FROM seawall_commands WHERE pk = ? AND sk = ?",
                    (item.pk, sk),
                )
                raise VersionConflictError(item.pk, sk, item.version, int(actual or 0))
        raise VersionConflictError(item.pk, sk, VERSION_LATEST, current)

    # -- queries -----------------------------------------------------------------------------

    async def get_item(
        self, key: DetailKey | Mapping[str, str], *, tx: Tx | None = None
    ) -> DataModel | None:
        """The projected item, or one version of it when `key.sk` ends in `@version`.

        With `tx`, read in the caller's transaction (seeing its uncommitted writes).
        """
        pk, sk = _key(key)
        version = get_sort_key_version(sk)
        async with self._reading(tx) as work:
            if version is None:
                row = await work.fetchone(_DATA_SELECT + " WHERE pk = ? AND sk = ?", (pk, sk))
            else:
                row = await work.fetchone(
                    _HISTORY_SELECT + " WHERE pk = ? AND sk = ? AND version = ?",
                    (pk, remove_sort_key_version(sk), version),
                )
        return None if row is None else DataModel.from_row(row)

    async def get_command(self, pk: str, sk: str, version: int) -> CommandModel | None:
        """One stored command version, projected or not."""
        async with self.store.read() as tx:
            row = await tx.fetchone(
                _COMMAND_SELECT + " WHERE pk = ? AND sk = ? AND version = ?",
                (pk, remove_sort_key_version(sk), version),
            )
        return None if row is None else CommandModel.from_row(row)

    async def get_latest_item(
        self, pk: str, sk: str, *, tx: Tx | None = None
    ) -> CommandModel | None:
        """The latest stored command of an item (it may not be projected yet).

        With `tx`, read in the caller's transaction: the version to publish on top of in it.
        """
        async with self._reading(tx) as work:
            row = await work.fetchone(_LATEST, (pk, remove_sort_key_version(sk)))
        return None if row is None else CommandModel.from_row(row)

    async def list_items_by_pk(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_deleted: bool = False,
    ) -> ItemPage:
        """Projected items of a partition ordered by sk, optionally under an sk prefix, paged."""
        if not 1 <= limit <= 1000:
            raise CommandError(f"limit must be between 1 and 1000 (got {limit})")
        sql = _DATA_SELECT + " WHERE pk = ?"
        params: list[Any] = [pk]
        if sk_prefix:
            sql += " AND substr(sk, 1, ?) = ?"
            params += [len(sk_prefix), sk_prefix]
        if cursor is not None:
            sql += " AND sk > ?"
            params.append(_decode_cursor(cursor))
        if not include_deleted:
            sql += " AND is_deleted = 0"
        sql += " ORDER BY sk LIMIT ?"
        params.append(limit + 1)
        async with self.store.read() as tx:
            rows = await tx.fetchall(sql, params)
        more = len(rows) > limit
        items = [DataModel.from_row(row) for row in rows[:limit]]
        return ItemPage(items, _encode_cursor(items[-1].sk) if more else None)

    async def get_history(self, pk: str, sk: str) -> list[DataModel]:
        """Every projected version of an item, oldest first."""
        async with self.store.read() as tx:
            rows = await tx.fetchall(
                _HISTORY_SELECT + " WHERE pk = ? AND sk = ? ORDER BY version",
                (pk, remove_sort_key_version(sk)),
            )
        return [DataModel.from_row(row) for row in rows]


def _pick(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _full(value: CommandInputModel | Mapping[str, Any]) -> CommandInputModel:
    if isinstance(value, CommandInputModel):
        return value
    return CommandInputModel.model_validate(value)


def _partial(value: CommandPartialInputModel | Mapping[str, Any]) -> CommandPartialInputModel:
    if isinstance(value, CommandPartialInputModel):
        return value
    return CommandPartialInputModel.model_validate(value)


def _key(key: DetailKey | Mapping[str, str]) -> tuple[str, str]:
    if isinstance(key, DetailKey):
        return key.pk, key.sk
    return key["pk"], key["sk"]
