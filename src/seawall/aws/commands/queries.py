"""The DynamoDB command service's reads: an item's data (or one version of it), its commands,
a partition's items page by page, and an item's history; expired items are skipped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from seawall.aws.commands.access import DynamoAccess
from seawall.aws.commands.items import Row, row_of
from seawall.aws.transact import from_item, to_item
from seawall.commands.api import DetailKey, ItemPage, detail_key
from seawall.commands.keys import (
    VERSION_LATEST,
    add_sort_key_version,
    get_sort_key_version,
    remove_sort_key_version,
)
from seawall.commands.models import CommandModel, DataModel
from seawall.commands.rules import check_page
from seawall.commands.tables import DATA_COLUMNS

__all__ = ["DynamoCommandQueries"]


class DynamoCommandQueries(DynamoAccess):
    """Reads of the command, data and history tables."""

    async def get_item(self, key: DetailKey | Mapping[str, str]) -> DataModel | None:
        """The item's data; with `sk@N`, version N of it (history, or the data item when it is
        at N). Expired items are not returned."""
        pk, sk = detail_key(key)
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
            row = await self._command_at(pk, base, version)
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
        check_page(limit, order)
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
                row = self._live(row_of(from_item(raw), DATA_COLUMNS))
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
