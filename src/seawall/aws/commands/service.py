"""`DynamoCommandService`: the command service on DynamoDB, its publishes (see the package
docstring for the version checks and what each costs)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from seawall.aws.clients import AwsClients
from seawall.aws.commands.items import Row, item_of, normalized
from seawall.aws.commands.queries import DynamoCommandQueries
from seawall.aws.commands.sync import DynamoDataSync
from seawall.aws.resources import create_table
from seawall.aws.transact import to_item
from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.commands.api import CommandApi
from seawall.commands.context import InvokeContext
from seawall.commands.errors import (
    CommandError,
    CommandNotFoundError,
)
from seawall.commands.keys import (
    VERSION_FIRST,
    remove_sort_key_version,
)
from seawall.commands.models import CommandInputModel, CommandModel, CommandPartialInputModel
from seawall.commands.projection import (
    STATUS_FINISHED,
    STATUS_PENDING,
    STATUS_SYNC_FAILED,
    SyncProgress,
)
from seawall.commands.publishing import store_next_async, store_next_sync
from seawall.commands.rules import (
    Notifier,
    TtlDays,
    as_input,
    as_partial,
    check_partial_sync,
    merge_partial,
    same_fields,
    same_json,
)
from seawall.commands.tables import COMMAND_COLUMNS, DATA_COLUMNS, CommandTables

__all__ = ["DynamoCommandService"]


class DynamoCommandService(DynamoCommandQueries, DynamoDataSync):
    """The command service on DynamoDB (see `seawall.aws.commands` for what differs): publishing
    here, data sync in `sync`, reads in `queries`."""

    joins_caller_transactions = False
    """Each publish is a TransactWriteItems of its own: a caller's transaction is not joined."""

    def __init__(
        self,
        clients: AwsClients,
        *,
        module: str,
        env: str | None = None,
        app: str | None = None,
        clock: Clock | None = None,
        source: str = "seawall",
        ttl_days: TtlDays | None = None,
        notify: Notifier | None = None,
    ) -> None:
        super().__init__(
            CommandTables.for_module(module, env=env, app=app),
            clock=clock or SYSTEM_CLOCK,
            source=source,
            ttl_days=ttl_days,
            notify=notify,
        )
        self.clients = clients

    async def create_tables(self) -> None:
        """Create the command, data and history tables (PAY_PER_REQUEST, TTL on `ttl`) when
        missing; in production the deployment template creates them."""
        for table in (self.tables.command, self.tables.data, self.tables.history):
            await asyncio.to_thread(create_table, self.clients, table, [("pk", "S"), ("sk", "S")])

    def _command(
        self,
        item: CommandInputModel,
        version: int,
        status: str,
        ctx: InvokeContext,
        source: str | None,
        request_id: str | None,
    ) -> Row:
        return self._new_command(
            item,
            version,
            status,
            ctx,
            source,
            request_id,
            now=float(self._now()),  # kept to the second, as the framework's ISO strings
            attributes=normalized(item.attributes),
        )

    def _unchanged(self, base: Row, item: CommandInputModel) -> bool:
        return same_fields(base, item) and same_json(
            base["attributes"], normalized(item.attributes)
        )

    async def publish_sync(
        self,
        input: CommandInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
    ) -> CommandModel | None:
        """Store the command, its history copy and data item in one transaction; None if
        unchanged. 400 for a version that does not fit the data item, 409 for a lost race."""
        item = as_input(input)
        return await self._publish_sync(
            item.pk, item.sk, lambda data: item, invoke_context, source, request_id
        )

    async def publish_partial_update_sync(
        self,
        input: CommandPartialInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
    ) -> CommandModel | None:
        """Merge the given fields onto the data item, whose version `input.version` must be,
        and publish it synchronously; 400 when the item is missing or the version differs."""
        partial = as_partial(input)
        sk = remove_sort_key_version(partial.sk)

        def build(data: Row | None) -> CommandInputModel:
            current = None if data is None else int(data["version"])
            check_partial_sync(partial.pk, sk, partial.version, current)
            assert data is not None
            return merge_partial(data, partial)

        return await self._publish_sync(partial.pk, sk, build, invoke_context, source, request_id)

    async def _publish_sync(
        self,
        pk: str,
        sk: str,
        build: Callable[[Row | None], CommandInputModel],
        ctx: InvokeContext,
        source: str | None,
        request_id: str | None,
    ) -> CommandModel | None:
        sk = remove_sort_key_version(sk)
        progress = SyncProgress("publish_sync")
        raw: Row | None = None
        committing: Row | None = None

        async def data() -> Row | None:
            nonlocal raw
            raw = await self._get(self.tables.data, pk, sk, DATA_COLUMNS)
            return self._live(raw)

        async def commit(row: Row) -> bool:
            nonlocal committing
            committing = row
            if await self._commit(row, raw, new=True, progress=progress):
                return True
            committing = None
            return False

        try:
            row = await store_next_sync(
                pk,
                sk,
                data=data,
                build=build,
                unchanged=self._unchanged,
                new_row=lambda item, version: self._command(
                    item, version, STATUS_FINISHED, ctx, source, request_id
                ),
                commit=commit,
                max_version=lambda: self._max_version(pk, sk),
            )
        except (CommandError, ValueError):
            raise
        except Exception:
            if committing is not None:
                await self._announce([self._note(committing, STATUS_SYNC_FAILED)])
            raise
        if row is None:
            return None
        await self._announce([self._note(row, STATUS_FINISHED)])
        return CommandModel.from_row(row)

    async def publish_async(
        self,
        input: CommandInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
    ) -> CommandModel | None:
        """Store the command as `publish_async:STARTED` (synced later by `sync_item`); None if
        unchanged. N > 0 needs `sk@N` (400), and `sk@N+1` must be free (409)."""
        item = as_input(input)
        row = await self._store_async(item, invoke_context, source, request_id, None)
        return None if row is None else CommandModel.from_row(row)

    async def publish_partial_update_async(
        self,
        input: CommandPartialInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
    ) -> CommandModel | None:
        """Merge the given fields onto command `sk@version` (the latest for 0 or -1) and publish
        it asynchronously; CommandNotFoundError (400) when there is none."""
        partial = as_partial(input)
        sk = remove_sort_key_version(partial.sk)
        if partial.version > VERSION_FIRST:
            base = await self._command_at(partial.pk, sk, partial.version)
        else:
            base = await self._latest_command(partial.pk, sk)
        if base is None:
            raise CommandNotFoundError(partial.pk, sk)
        merged = merge_partial(base, partial)
        row = await self._store_async(merged, invoke_context, source, request_id, base)
        return None if row is None else CommandModel.from_row(row)

    async def _store_async(
        self,
        item: CommandInputModel,
        ctx: InvokeContext,
        source: str | None,
        request_id: str | None,
        known: Row | None,
    ) -> Row | None:
        """Check the version against the commands and put the next version (not synced)."""
        sk = remove_sort_key_version(item.sk)
        db = self.clients.dynamodb

        async def insert(row: Row) -> bool:
            try:
                await self._call(
                    "put_item",
                    TableName=self.tables.command,
                    Item=to_item(item_of(row, COMMAND_COLUMNS, versioned=True)),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except db.exceptions.ConditionalCheckFailedException:
                return False
            return True

        return await store_next_async(
            item,
            sk,
            latest=lambda: self._latest_command(item.pk, sk),
            command_at=lambda version: self._command_at(item.pk, sk, version),
            max_version=lambda: self._max_version(item.pk, sk),
            unchanged=lambda base: self._unchanged(base, item),
            new_row=lambda version: self._command(
                item, version, STATUS_PENDING, ctx, source, request_id
            ),
            insert=insert,
            known=known,
        )


def _implements_command_api(service: DynamoCommandService) -> CommandApi:
    """A static check (mypy): DynamoCommandService offers the CommandApi of every backend."""
    return service
