"""The command service on DynamoDB, and command notifications to SNS.

`DynamoCommandService` has the public API of `seawall.commands.CommandService` on the
framework's tables `{env}-{app}-{module}-command|data|history` (pk HASH, sk RANGE; command and
history items keyed `sk@version`, data items keyed by the bare sk), with the framework's item
shape (camelCase attributes, `attributes` as a map, `createdAt`/`updatedAt` as ISO 8601 strings
with a UTC offset, `ttl` as epoch seconds for DynamoDB's TTL). The version rules, "unchanged"
check, partial merge, audit fields, TTL policy and notifications come from
`seawall.commands.rules`, shared with the SQL service.

Writes and version checks:

- `publish_sync`: GetItem of the data item (consistent), the version checks, then ONE
  TransactWriteItems: the command `sk@N+1` (condition: not there yet), the previous command's
  `command` TTL (condition: it exists; dropped and the transaction retried once if it is gone),
  the history item (the data as it was before the change, `sk@N`), the new data item (condition:
  still at version N, or still absent), and whatever the data-sync handlers add. A lost race
  (either condition) is a 409 VersionConflictError (with -1: read again and retry); a version
  that does not fit is a 400 VersionMismatchError before anything is written.
- `publish_async`: the command item with status `publish_async:STARTED`, one conditional
  PutItem (409 when `sk@N+1` exists). `sk@N` must exist for N > 0 (GetItem; 400 if not).
- Data sync of async commands: `sync_item(pk, sk)` applies an item's pending commands in
  version order, each in one TransactWriteItems whose conditions (command still unfinished,
  data item still at the previous version) make concurrent syncs of one item safe: the loser
  stops, the winner's work stands. Wire it to the command table's DynamoDB stream with
  `handle_stream_event` (one call per item in the batch; a failure raises, so Lambda retries the
  batch, and re-syncing is idempotent); `seawall.aws.entry.command_stream_handler` is that
  function's entry point. A command the data item already passed without it
  finishing is marked `check_version:FAILED` and alarmed (`sfn-alarm`), as in the SQL service;
  a command whose previous version is stored but not synced waits for it; a missing previous
  command (expired) does not block. `sync_pending()` (no key) scans the table for unfinished
  commands: a repair tool, not a hot path.

API calls (what a publish costs; `AwsClients.calls` counts them):

| operation | calls |
| --- | --- |
| publish_sync, publish_partial_update_sync | GetItem + TransactWriteItems = 2 |
| publish_async with version 0 | PutItem = 1 |
| publish_async with N > 0, partial async with N > 0 | GetItem + PutItem = 2 |
| publish_async with -1, partial async with 0 or -1 | Query + PutItem = 2 (*) |
| sync_item | GetItem + Query (*) + one TransactWriteItems per command synced |
| get_item | GetItem = 1; `sk@N`: 1, or 2 when N is the current version (history, then data) |
| get_command `sk@N` | GetItem = 1 |
| get_latest_item, get_history | Query = 1 (*) |
| list_items_by_pk | Query = 1 per page (more when expired items are skipped) |
| each notification through SnsNotifier | Publish = 1 |

(*) one more Query page per ~1 MB of the item's stored versions.
A lost race adds a Query (for the latest version in the error) and, with -1, the retry's calls.

Differences from the SQL service: no caller transaction (`tx=`): DynamoDB transactions cannot
span reads, so every publish is its own TransactWriteItems (data-sync handlers implement
`DynamoDataSyncHandler`: their `up(cmd, tx)` adds writes to the same DynamoTx, up to 96 items);
async publishes are synced from the stream (`sync_item`), not by seawall's job queue; a sync
publish's command is stored as `finish:FINISHED` directly (the STARTED state lives and dies in
one transaction, and is not announced by either service); times are kept to the second (the
framework's stored form); numbers go through DynamoDB's decimal type, so `1` and `1.0` are the
same attribute value (the SQL service keeps JSON's distinction; the framework's JavaScript
numbers do not have it either); an item with no data TTL has no `ttl` attribute; expired items
that DynamoDB has not deleted yet are skipped on reads, so there is no `purge_expired`;
`get_latest_item` and `get_history` read all of an item's stored versions (command keys sort as
text, so `sk@10` sorts before `sk@9`).

Differences from the framework: the publish is atomic (a failed data-sync handler leaves
nothing stored; the framework keeps the command as `publish_sync:FAILED`); the command's
`updated*` are its own request's (the framework copies the data item's); no `syncMode` attribute
and no S3 offload of large attributes (an item stays under DynamoDB's 400 KB); sort keys with
a non-numeric `@` suffix are not versions (see `seawall.commands.keys`); the data item is
written with a version condition (the framework's putItem is unconditional); -1 retries a lost
race instead of a 409; `get_latest_item` queries the item's commands (the framework probes
GetItems from the data version + 5); no read-your-writes session item after an async publish;
and the data sync runs in seawall (from the stream) instead of a Step Functions state machine.
Items the framework wrote are read (attributes seawall does not know, e.g. `syncMode`, are
ignored).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic.alias_generators import to_camel

from seawall.aws.clients import AwsClients
from seawall.aws.resources import create_table
from seawall.aws.transact import DynamoTx, TransactionCancelledError, from_item, to_item
from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.commands.api import CommandApi
from seawall.commands.context import InvokeContext
from seawall.commands.errors import (
    CommandError,
    CommandNotFoundError,
    VersionConflictError,
    VersionMismatchError,
)
from seawall.commands.keys import (
    VERSION_FIRST,
    VERSION_LATEST,
    VERSION_SEPARATOR,
    add_sort_key_version,
    get_sort_key_version,
    get_tenant_code,
    remove_sort_key_version,
)
from seawall.commands.models import (
    CommandInputModel,
    CommandModel,
    CommandPartialInputModel,
    DataModel,
)
from seawall.commands.projection import (
    FAILED,
    STATUS_FINISHED,
    STATUS_PENDING,
    STATUS_SYNC_FAILED,
    SyncProgress,
    command_status,
)
from seawall.commands.rules import (
    CommandNotification,
    Notifier,
    TtlDays,
    as_input,
    as_partial,
    check_partial_sync,
    check_sync_version,
    command_row,
    data_row,
    gap_alarm,
    merge_partial,
    same_fields,
    same_json,
    status_note,
    sync_order,
    ttl_at,
)
from seawall.commands.service import DetailKey, ItemPage
from seawall.commands.tables import COMMAND_COLUMNS, DATA_COLUMNS, CommandTables

__all__ = ["DynamoCommandService", "DynamoDataSyncHandler", "SnsNotifier"]

log = logging.getLogger("seawall.aws.commands")

Row = dict[str, Any]

STATUS_GAP = command_status("check_version", FAILED)
_LATEST_RETRIES = 20
_CONFLICT_RETRIES = 5
_COMMAND, _PREVIOUS, _HISTORY, _DATA = "command", "previous command", "history", "data"
_NAMES = {"#v": "version", "#t": "ttl", "#s": "status"}
_DATES = ("created_at", "updated_at")
_TEXT_DEFAULTS = {
    "id": "",
    "tenant_code": "",
    "source": "",
    "request_id": "",
    "created_by": "",
    "created_ip": "",
    "updated_by": "",
    "updated_ip": "",
    "cpk": "",
    "csk": "",
}


@runtime_checkable
class DynamoDataSyncHandler(Protocol):
    """Code that reacts to each synced command on DynamoDB (the framework's IDataSyncHandler).

    `up` adds its writes to `tx`, the TransactWriteItems that stores the command's projection,
    so they commit with it (at most 96 items: the projection takes 4). When a later handler's
    `up` fails, `down` runs on those that already ran, in reverse order; nothing is written.
    """

    name: str

    async def up(self, cmd: CommandModel, tx: DynamoTx) -> None:
        """Add the command's effects to `tx`."""
        ...

    async def down(self, cmd: CommandModel) -> None:
        """Compensate effects of `up` outside the transaction."""
        ...


class SnsNotifier:
    """A notification hook (`add_notifier`, SQL or DynamoDB service) publishing to SNS.

    The message is the framework's: `Message` is the JSON of the INotification (`action`,
    `pk`, `sk`, `table`, `id`, `tenantCode`, `content`) and the message attribute `action`
    carries the action for subscription filters. `sfn-alarm` notifications go to
    `alarm_topic_arn` when given (the framework's SNS_ALARM_TOPIC_ARN), the rest to `topic_arn`
    (SNS_TOPIC_ARN). One Publish call per notification.
    """

    def __init__(
        self, clients: AwsClients, topic_arn: str, *, alarm_topic_arn: str | None = None
    ) -> None:
        self.clients = clients
        self.topic_arn = topic_arn
        self.alarm_topic_arn = alarm_topic_arn

    def publish(self, note: CommandNotification) -> str:
        """Publish `note` now (blocking); the SNS message id."""
        topic = self.topic_arn
        if note.action == "sfn-alarm" and self.alarm_topic_arn:
            topic = self.alarm_topic_arn
        answer = self.clients.sns.publish(
            TopicArn=topic,
            Message=json.dumps(note.to_message(), ensure_ascii=False),
            MessageAttributes={"action": {"DataType": "String", "StringValue": note.action}},
        )
        return str(answer["MessageId"])

    async def __call__(self, note: CommandNotification) -> None:
        """Publish `note` from a worker thread."""
        await asyncio.to_thread(self.publish, note)


# -- items <-> rows ------------------------------------------------------------------------------


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat(timespec="seconds")


def _epoch(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


_CAMEL = {name: to_camel(name) for name in {*COMMAND_COLUMNS, *DATA_COLUMNS}}
_SNAKE = {camel: name for name, camel in _CAMEL.items()}


def _item(row: Mapping[str, Any], columns: Iterable[str], *, versioned: bool) -> Row:
    """A row as the framework's DynamoDB item (None values left out)."""
    item: Row = {}
    for name in columns:
        value = row.get(name)
        if value is None:
            continue
        if name in _DATES:
            value = _iso(value)
        elif name == "is_deleted":
            value = bool(value)
        item[_CAMEL[name]] = value
    if versioned:
        item["sk"] = add_sort_key_version(str(row["sk"]), int(row["version"]))
    return item


def _row(item: Mapping[str, Any], columns: tuple[str, ...]) -> Row:
    """A DynamoDB item (Python values) as a row; unknown attributes are ignored."""
    row: Row = dict.fromkeys(columns)
    row.update({k: v for k, v in _TEXT_DEFAULTS.items() if k in row})
    row["attributes"] = {}
    row["is_deleted"] = False
    for key, value in item.items():
        name = _SNAKE.get(key)
        if name is not None and name in row and value is not None:
            row[name] = value
    row["sk"] = remove_sort_key_version(str(row["sk"]))
    for name in _DATES:
        row[name] = _epoch(row[name]) if row[name] is not None else 0.0
    row["version"] = int(row["version"] or get_sort_key_version(str(item.get("sk", ""))))
    row["is_deleted"] = bool(row["is_deleted"])
    return row


def _normalized(attributes: Mapping[str, Any]) -> Any:
    """Attributes as they read back from DynamoDB (numbers through Decimal)."""
    return from_item(to_item({"a": dict(attributes)}))["a"]


def _key(key: DetailKey | Mapping[str, str]) -> tuple[str, str]:
    if isinstance(key, DetailKey):
        return key.pk, key.sk
    return str(key["pk"]), str(key["sk"])


def _lost(exc: TransactionCancelledError) -> bool:
    """The transaction lost a version race (a condition on the command or data item)."""
    return exc.failed(_COMMAND) or exc.failed(_DATA)


def _conflicted(exc: TransactionCancelledError) -> bool:
    """Only concurrent transactions on the same items got in the way: commit again."""
    reasons = [r for r in exc.reasons if r not in (None, "None")]
    return bool(reasons) and all(r == "TransactionConflict" for r in reasons)


def _only_previous(exc: TransactionCancelledError) -> bool:
    """Only the previous command's TTL update failed (it is gone): commit without it."""
    failed = {
        lab for lab, r in zip(exc.labels, exc.reasons, strict=False) if r not in (None, "None")
    }
    return failed == {_PREVIOUS}


class DynamoCommandService:
    """The command service on DynamoDB (see the module docstring for what differs)."""

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
        self.clients = clients
        self.tables = CommandTables.for_module(module, env=env, app=app)
        self.clock = clock or SYSTEM_CLOCK
        self.default_source = source
        self._ttl_days = ttl_days
        self._handlers: list[DynamoDataSyncHandler] = []
        self._notifiers: list[Notifier] = [notify] if notify is not None else []

    # -- wiring ------------------------------------------------------------------------------

    async def create_tables(self) -> None:
        """Create the command, data and history tables (PAY_PER_REQUEST, TTL on `ttl`) when
        missing; in production the deployment template creates them."""
        for table in (self.tables.command, self.tables.data, self.tables.history):
            await asyncio.to_thread(create_table, self.clients, table, [("pk", "S"), ("sk", "S")])

    def register_data_sync_handler(self, handler: DynamoDataSyncHandler) -> None:
        """Run `handler.up(cmd, tx)` for every synced command, after the ones added before."""
        if not callable(getattr(handler, "up", None)) or not callable(
            getattr(handler, "down", None)
        ):
            raise TypeError("a DataSyncHandler needs async up(cmd, tx) and down(cmd) methods")
        self._handlers.append(handler)

    @property
    def data_sync_handlers(self) -> tuple[DynamoDataSyncHandler, ...]:
        """The registered handlers, in run order."""
        return tuple(self._handlers)

    def add_notifier(self, notify: Notifier) -> None:
        """Call `notify(notification)` for each command status change and alarm (e.g. an
        `SnsNotifier`). A failing notifier is logged, never raised."""
        self._notifiers.append(notify)

    def ttl_for(self, table_type: str, tenant_code: str | None) -> int | None:
        """Epoch seconds at which an item of `table_type` written now expires, or None."""
        return ttl_at(self._ttl_days, table_type, tenant_code, self.clock.time())

    def _now(self) -> int:
        return int(self.clock.time())

    def _live(self, row: Row | None) -> Row | None:
        if row is None or row.get("ttl") is None or int(row["ttl"]) > self._now():
            return row
        return None

    async def _announce(self, notes: list[CommandNotification]) -> None:
        for note in notes:
            for notify in self._notifiers:
                try:
                    await notify(note)
                except Exception:
                    log.exception("command notification hook failed", extra={"action": note.action})

    def _note(self, row: Row, status: str) -> CommandNotification:
        return status_note(self.tables.command, row, status, row["request_id"])

    # -- DynamoDB calls ----------------------------------------------------------------------

    async def _call(self, operation: str, **request: Any) -> Any:
        db = self.clients.dynamodb
        return await asyncio.to_thread(getattr(db, operation), **request)

    async def _get(self, table: str, pk: str, sk: str, columns: tuple[str, ...]) -> Row | None:
        answer = await self._call(
            "get_item",
            TableName=table,
            Key=to_item({"pk": pk, "sk": sk}),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return None if not item else _row(from_item(item), columns)

    async def _versions(self, table: str, pk: str, sk: str, columns: tuple[str, ...]) -> list[Row]:
        """Every stored version (`sk@N` items) of an item, oldest first, expired ones too."""
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item(
                {":pk": pk, ":prefix": f"{sk}{VERSION_SEPARATOR}"}
            ),
            "ConsistentRead": True,
        }
        rows: list[Row] = []
        while True:
            answer = await self._call("query", **request)
            for raw in answer.get("Items", []):
                item = from_item(raw)
                if remove_sort_key_version(str(item["sk"])) == sk:
                    rows.append(_row(item, columns))
            last = answer.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
        return sorted(rows, key=lambda r: int(r["version"]))

    async def _max_version(self, pk: str, sk: str) -> int:
        versions = await self._versions(self.tables.command, pk, sk, COMMAND_COLUMNS)
        return int(versions[-1]["version"]) if versions else 0

    async def _latest_command(self, pk: str, sk: str) -> Row | None:
        live = [
            r
            for r in await self._versions(self.tables.command, pk, sk, COMMAND_COLUMNS)
            if self._live(r)
        ]
        return live[-1] if live else None

    async def _set_status(self, row: Row, status: str, *, unless: str | None = None) -> bool:
        """Set a stored command's status; False when it is gone (or already `unless`)."""
        condition = "attribute_exists(pk)"
        version = int(row["version"])
        values: dict[str, Any] = {":s": status}
        if unless is not None:
            condition += " AND #s <> :unless"
            values[":unless"] = unless
        db = self.clients.dynamodb
        try:
            await self._call(
                "update_item",
                TableName=self.tables.command,
                Key=to_item({"pk": row["pk"], "sk": add_sort_key_version(row["sk"], version)}),
                UpdateExpression="SET #s = :s",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item(values),
            )
        except db.exceptions.ConditionalCheckFailedException:
            return False
        row["status"] = status
        return True

    # -- the projection transaction ------------------------------------------------------------

    async def _project(
        self,
        command: Row,
        data: Row | None,
        *,
        new: bool,
        with_previous: bool,
        progress: SyncProgress,
    ) -> DynamoTx:
        """The TransactWriteItems that stores `command` (new: put it, else: mark it finished),
        its previous command's TTL, the history copy of `data` and the new data item."""
        tx = DynamoTx(self.clients)
        pk, sk, version = command["pk"], command["sk"], int(command["version"])
        versioned = add_sort_key_version(sk, version)
        tenant = command["tenant_code"] or None
        if new:
            tx.put(
                self.tables.command,
                _item({**command, "status": STATUS_FINISHED}, COMMAND_COLUMNS, versioned=True),
                condition="attribute_not_exists(pk)",
                label=_COMMAND,
            )
        else:
            tx.update(
                self.tables.command,
                {"pk": pk, "sk": versioned},
                "SET #s = :s",
                condition="#s = :was",
                names={"#s": "status"},
                values={":s": STATUS_FINISHED, ":was": command["status"]},
                label=_COMMAND,
            )
        if not new:
            progress.step = "set_ttl_command"
        command_ttl = self.ttl_for("command", tenant) if version > 1 else None
        if command_ttl is not None and with_previous:
            tx.update(
                self.tables.command,
                {"pk": pk, "sk": add_sort_key_version(sk, version - 1)},
                "SET #t = :t",
                condition="attribute_exists(pk)",
                names={"#t": "ttl"},
                values={":t": command_ttl},
                label=_PREVIOUS,
            )
        if not new:
            progress.step = "history_copy"
        if data is not None:
            history = {**data, "ttl": self.ttl_for("history", tenant)}
            tx.put(
                self.tables.history,
                _item(history, DATA_COLUMNS, versioned=True),
                label=_HISTORY,
            )
        if not new:
            progress.step = "sync_data"
        projected = data_row(command, self._live(data))
        if data is None:
            tx.put(
                self.tables.data,
                _item(projected, DATA_COLUMNS, versioned=False),
                condition="attribute_not_exists(pk)",
                label=_DATA,
            )
        else:
            tx.put(
                self.tables.data,
                _item(projected, DATA_COLUMNS, versioned=False),
                condition="#v = :v",
                names={"#v": "version"},
                values={":v": int(data["version"])},
                label=_DATA,
            )
        if self._handlers:
            await self._run_handlers(command, tx)
        return tx

    async def _run_handlers(self, command: Row, tx: DynamoTx) -> None:
        model = CommandModel.from_row({**command, "status": STATUS_FINISHED})
        done: list[DynamoDataSyncHandler] = []
        try:
            for handler in self._handlers:
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

    async def _commit(
        self,
        command: Row,
        data: Row | None,
        *,
        new: bool,
        progress: SyncProgress,
    ) -> bool:
        """Build and commit the projection; False when it lost a version race."""
        with_previous = True
        for _ in range(_CONFLICT_RETRIES):
            tx = await self._project(
                command, data, new=new, with_previous=with_previous, progress=progress
            )
            try:
                await asyncio.to_thread(tx.commit)
            except TransactionCancelledError as exc:
                if _only_previous(exc) and with_previous:
                    with_previous = False  # the previous command expired: nothing to set
                    continue
                if _lost(exc):
                    return False
                if _conflicted(exc):
                    await self.clock.sleep(0.01)
                    continue
                raise
            return True
        return False

    # -- publishing --------------------------------------------------------------------------

    def _command_row(
        self,
        item: CommandInputModel,
        version: int,
        status: str,
        ctx: InvokeContext,
        source: str | None,
        request_id: str | None,
    ) -> Row:
        return command_row(
            item,
            version=version,
            status=status,
            ctx=ctx,
            source=source or ctx.source or self.default_source,
            request_id=request_id,
            now=float(self._now()),  # kept to the second, as the framework's ISO strings
            ttl=self.ttl_for("data", get_tenant_code(item.pk)) if item.ttl is None else item.ttl,
            attributes=_normalized(item.attributes),
        )

    def _unchanged(self, base: Row, item: CommandInputModel) -> bool:
        return same_fields(base, item) and same_json(
            base["attributes"], _normalized(item.attributes)
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
        row: Row | None = None
        try:
            for _ in range(_LATEST_RETRIES):
                raw = await self._get(self.tables.data, pk, sk, DATA_COLUMNS)
                data = self._live(raw)
                item = build(data)
                current = 0 if data is None else int(data["version"])
                check_sync_version(item.pk, sk, item.version, current)
                if data is not None and self._unchanged(data, item):
                    return None
                row = self._command_row(item, current + 1, STATUS_FINISHED, ctx, source, request_id)
                if await self._commit(row, raw, new=True, progress=progress):
                    break
                if item.version != VERSION_LATEST:
                    raise VersionConflictError(
                        item.pk, sk, item.version, await self._max_version(item.pk, sk)
                    )
                row = None
            else:
                raise VersionConflictError(
                    item.pk, sk, VERSION_LATEST, await self._max_version(item.pk, sk)
                )
        except (CommandError, ValueError):
            raise
        except Exception:
            if row is not None:
                await self._announce([self._note(row, STATUS_SYNC_FAILED)])
            raise
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
            base = self._live(
                await self._get(
                    self.tables.command,
                    partial.pk,
                    add_sort_key_version(sk, partial.version),
                    COMMAND_COLUMNS,
                )
            )
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
        for _ in range(_LATEST_RETRIES):
            base: Row | None = None
            if known is not None:
                base, current = known, int(known["version"])
            elif item.version == VERSION_LATEST:
                base = await self._latest_command(item.pk, sk)
                current = 0 if base is None else int(base["version"])
            elif item.version > VERSION_FIRST:
                base = self._live(
                    await self._get(
                        self.tables.command,
                        item.pk,
                        add_sort_key_version(sk, item.version),
                        COMMAND_COLUMNS,
                    )
                )
                if base is None:
                    raise VersionMismatchError(
                        item.pk, sk, item.version, await self._max_version(item.pk, sk)
                    )
                current = item.version
            else:
                current = VERSION_FIRST
            if base is not None and self._unchanged(base, item):
                return None
            row = self._command_row(item, current + 1, STATUS_PENDING, ctx, source, request_id)
            try:
                await self._call(
                    "put_item",
                    TableName=self.tables.command,
                    Item=to_item(_item(row, COMMAND_COLUMNS, versioned=True)),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except db.exceptions.ConditionalCheckFailedException:
                if item.version != VERSION_LATEST or known is not None:
                    raise VersionConflictError(
                        item.pk, sk, current, await self._max_version(item.pk, sk)
                    ) from None
                continue
            return row
        raise VersionConflictError(
            item.pk, sk, VERSION_LATEST, await self._max_version(item.pk, sk)
        )

    # -- data sync -----------------------------------------------------------------------------

    async def sync_item(self, pk: str, sk: str) -> int:
        """Sync the item's pending commands in version order; how many were synced.

        Stops at a command whose previous version is stored but not synced (it waits), and
        when another sync of the item got ahead (its work stands). A command the data item
        passed without it finishing is marked `check_version:FAILED` and alarmed. A failing
        step marks the command `<step>:FAILED` and raises (the stream retries it).
        """
        sk = remove_sort_key_version(sk)
        data = await self._get(self.tables.data, pk, sk, DATA_COLUMNS)
        commands = await self._versions(self.tables.command, pk, sk, COMMAND_COLUMNS)
        stored = {int(c["version"]) for c in commands}
        notes: list[CommandNotification] = []
        count = 0
        try:
            for command in commands:
                if command["status"] in (STATUS_FINISHED, STATUS_GAP):
                    continue
                version = int(command["version"])
                data_version = 0 if data is None else int(data["version"])
                order = sync_order(version, data_version)
                if order == "behind":
                    if await self._set_status(command, STATUS_GAP, unless=STATUS_FINISHED):
                        note = self._note(command, STATUS_GAP)
                        cause = (
                            f"version is not match on {pk}#{sk}: next version must be "
                            f"{data_version + 1} but got {version}"
                        )
                        log.error("data-sync version gap", extra={"cause": cause})
                        notes += [note, gap_alarm(note, cause)]
                    continue
                if order == "ahead" and version - 1 in stored:
                    break  # the previous version is stored but not synced: wait for it
                progress = SyncProgress()
                try:
                    synced = await self._commit(command, data, new=False, progress=progress)
                except Exception:
                    status = command_status(progress.step, FAILED)
                    await self._set_status(command, status, unless=STATUS_FINISHED)
                    notes.append(self._note(command, status))
                    raise
                if not synced:
                    break  # another sync of this item got here first
                data = data_row(command, self._live(data))
                command["status"] = STATUS_FINISHED
                notes.append(self._note(command, STATUS_FINISHED))
                count += 1
        finally:
            await self._announce(notes)
        return count

    async def sync_pending(
        self, pk: str | None = None, sk: str | None = None, *, limit: int = 100
    ) -> int:
        """Sync pending commands: of one item (`pk`, `sk`), or of up to `limit` items found by
        scanning the command table (a repair tool: a Scan reads the whole table)."""
        if pk is not None and sk is not None:
            return await self.sync_item(pk, sk)
        request: dict[str, Any] = {
            "TableName": self.tables.command,
            "FilterExpression": "NOT #s IN (:fin, :gap)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": to_item({":fin": STATUS_FINISHED, ":gap": STATUS_GAP}),
            "ProjectionExpression": "pk, sk",
            "ConsistentRead": True,
        }
        items: dict[tuple[str, str], None] = {}
        while len(items) < limit:
            answer = await self._call("scan", **request)
            for raw in answer.get("Items", []):
                found = from_item(raw)
                items.setdefault((str(found["pk"]), remove_sort_key_version(str(found["sk"]))))
            last = answer.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
        total = 0
        for item_pk, item_sk in sorted(items)[:limit]:
            total += await self.sync_item(item_pk, item_sk)
        return total

    async def handle_stream_event(self, event: Mapping[str, Any]) -> int:
        """Lambda handler body for the command table's DynamoDB stream: sync each item that got
        a new async command (`publish_async:STARTED`), once per item per batch, in the order the
        items first appear; how many commands were synced. Raises on a failure (Lambda retries
        the batch; syncing again is idempotent)."""
        keys: dict[tuple[str, str], None] = {}
        for record in event.get("Records", []):
            if record.get("eventName") not in ("INSERT", "MODIFY"):
                continue
            image = (record.get("dynamodb") or {}).get("NewImage") or {}
            if not image:
                continue
            found = from_item(image)
            if found.get("status") != STATUS_PENDING:
                continue
            keys.setdefault((str(found["pk"]), remove_sort_key_version(str(found["sk"]))))
        total = 0
        for pk, sk in keys:
            total += await self.sync_item(pk, sk)
        return total

    # -- queries -----------------------------------------------------------------------------

    async def get_item(self, key: DetailKey | Mapping[str, str]) -> DataModel | None:
        """The item's data; with `sk@N`, version N of it (history, or the data item when it is
        at N). Expired items are not returned."""
        pk, sk = _key(key)
        version = get_sort_key_version(sk)
        base = remove_sort_key_version(sk)
        if version == VERSION_LATEST:
            row = self._live(await self._get(self.tables.data, pk, base, DATA_COLUMNS))
        else:
            row = self._live(
                await self._get(
                    self.tables.history, pk, add_sort_key_version(base, version), DATA_COLUMNS
                )
            )
            if row is None:
                row = self._live(await self._get(self.tables.data, pk, base, DATA_COLUMNS))
                if row is not None and int(row["version"]) != version:
                    row = None
        return None if row is None else DataModel.from_row(row)

    async def get_command(
        self, pk: str, sk: str, version: int | None = None
    ) -> CommandModel | None:
        """One stored command: `sk@N` (or `version=N`), else the latest; None if expired."""
        if version is None:
            version = get_sort_key_version(sk)
        base = remove_sort_key_version(sk)
        if version == VERSION_LATEST:
            row = await self._latest_command(pk, base)
        else:
            row = self._live(
                await self._get(
                    self.tables.command, pk, add_sort_key_version(base, version), COMMAND_COLUMNS
                )
            )
        return None if row is None else CommandModel.from_row(row)

    async def get_latest_item(self, pk: str, sk: str) -> CommandModel | None:
        """The latest stored command of an item (it may not be synced yet)."""
        return await self.get_command(pk, remove_sort_key_version(sk), VERSION_LATEST)

    async def list_items_by_pk(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        start_from_sk: str | None = None,
        limit: int = 10,
        order: Literal["asc", "desc"] = "asc",
        include_deleted: bool = True,
    ) -> ItemPage:
        """A partition's data items ordered by sk (soft-deleted ones included, as the
        framework), optionally under an sk prefix, `limit` (default 10) at a time after
        `start_from_sk`."""
        if not 1 <= limit <= 1000:
            raise CommandError(f"limit must be between 1 and 1000 (got {limit})")
        if order not in ("asc", "desc"):
            raise CommandError(f"order must be 'asc' or 'desc' (got {order!r})")
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": pk}
        if sk_prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = sk_prefix
        request: dict[str, Any] = {
            "TableName": self.tables.data,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
            "ScanIndexForward": order == "asc",
        }
        if start_from_sk is not None:
            request["ExclusiveStartKey"] = to_item({"pk": pk, "sk": start_from_sk})
        rows: list[Row] = []
        while len(rows) <= limit:
            request["Limit"] = limit + 1 - len(rows)
            answer = await self._call("query", **request)
            for raw in answer.get("Items", []):
                row = self._live(_row(from_item(raw), DATA_COLUMNS))
                if row is not None and (include_deleted or not row["is_deleted"]):
                    rows.append(row)
            last = answer.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
        more = len(rows) > limit
        items = [DataModel.from_row(row) for row in rows[:limit]]
        return ItemPage(items, items[-1].sk if more else None)

    async def get_history(self, pk: str, sk: str) -> list[DataModel]:
        """The item's data as it was before each change, oldest first (after v4: v1 to v3)."""
        rows = await self._versions(
            self.tables.history, pk, remove_sort_key_version(sk), DATA_COLUMNS
        )
        return [DataModel.from_row(row) for row in rows if self._live(row)]


def _implements_command_api(service: DynamoCommandService) -> CommandApi:
    """A static check (mypy): DynamoCommandService offers the CommandApi of every backend."""
    return service
