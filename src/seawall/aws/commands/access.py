"""The DynamoDB command service's calls on its three tables: get, every version of an item,
the latest command, a status change; and which rows are still live (TTL)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

from seawall.aws.clients import AwsClients
from seawall.aws.commands.items import Row, row_of
from seawall.aws.transact import DynamoTx, from_item, to_item
from seawall.commands.core import CommandCore
from seawall.commands.keys import VERSION_SEPARATOR, add_sort_key_version, remove_sort_key_version
from seawall.commands.models import CommandModel
from seawall.commands.tables import COMMAND_COLUMNS

__all__ = ["DynamoAccess", "DynamoDataSyncHandler"]


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


class DynamoAccess(CommandCore[DynamoDataSyncHandler]):
    """DynamoDB reads and writes shared by publishing, data sync and queries."""

    clients: AwsClients

    def _live(self, row: Row | None) -> Row | None:
        if row is None or row.get("ttl") is None or int(row["ttl"]) > self._now():
            return row
        return None

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
        return None if not item else row_of(from_item(item), columns)

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
                    rows.append(row_of(item, columns))
            last = answer.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
        return sorted(rows, key=lambda r: int(r["version"]))

    async def _command_at(self, pk: str, sk: str, version: int) -> Row | None:
        """The live command `sk@version`, or None."""
        return self._live(
            await self._get(
                self.tables.command, pk, add_sort_key_version(sk, version), COMMAND_COLUMNS
            )
        )

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
