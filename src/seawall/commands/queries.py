"""The SQL command service's reads: an item's data (or one version of it), its commands, a
partition's items page by page, and an item's history."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Literal

from seawall.commands.api import DetailKey, ItemPage, detail_key
from seawall.commands.core import CommandCore
from seawall.commands.keys import VERSION_LATEST, get_sort_key_version, remove_sort_key_version
from seawall.commands.models import CommandModel, DataModel
from seawall.commands.projection import DataSyncHandler
from seawall.commands.rules import check_page
from seawall.store import Store, Tx

__all__ = ["SqlCommandQueries"]


class SqlCommandQueries(CommandCore[DataSyncHandler]):
    """Reads of the command, data and history tables; expired rows are never returned."""

    store: Store

    def _reading(self, tx: Tx | None) -> AbstractAsyncContextManager[Tx]:
        """`tx` itself when the caller gives one, else a read snapshot of the store."""
        if tx is not None:
            return nullcontext(tx)
        return self.store.read()

    async def get_item(
        self, key: DetailKey | Mapping[str, str], *, tx: Tx | None = None
    ) -> DataModel | None:
        """The item's data row; with `sk@N`, version N of it (history, or the data row when it
        is at N). Expired rows are not returned.

        With `tx`, read in the caller's transaction (seeing its uncommitted writes).
        """
        pk, sk = detail_key(key)
        version = get_sort_key_version(sk)
        base = remove_sort_key_version(sk)
        now = self._now()
        async with self._reading(tx) as work:
            if version == VERSION_LATEST:
                row = await work.fetchone(self.tables.data_live, (pk, base, now))
            else:
                row = await work.fetchone(self.tables.history_one, (pk, base, version, now))
                if row is None:
                    row = await work.fetchone(self.tables.data_live, (pk, base, now))
                    if row is not None and int(row["version"]) != version:
                        row = None
        return None if row is None else DataModel.from_row(row)

    async def get_command(
        self, pk: str, sk: str, version: int | None = None, *, tx: Tx | None = None
    ) -> CommandModel | None:
        """One stored command: `sk@N` (or `version=N`), else the latest; None if expired."""
        if version is None:
            version = get_sort_key_version(sk)
        base = remove_sort_key_version(sk)
        async with self._reading(tx) as work:
            if version == VERSION_LATEST:
                row = await work.fetchone(self.tables.command_latest, (pk, base, self._now()))
            else:
                row = await work.fetchone(
                    self.tables.command_live, (pk, base, version, self._now())
                )
        return None if row is None else CommandModel.from_row(row)

    async def get_latest_item(
        self, pk: str, sk: str, *, tx: Tx | None = None
    ) -> CommandModel | None:
        """The latest stored command of an item (it may not be synced yet).

        With `tx`, read in the caller's transaction: the version to publish on top of in it.
        """
        return await self.get_command(pk, remove_sort_key_version(sk), VERSION_LATEST, tx=tx)

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
        """A partition's data rows ordered by sk (soft-deleted ones included, as the framework),
        optionally under an sk prefix, `limit` (default 10) at a time after `start_from_sk`."""
        check_page(limit, order)
        sql = self.tables.list_data(
            prefix=bool(sk_prefix), start=start_from_sk is not None, descending=order == "desc"
        )
        params: list[Any] = [pk, self._now()]
        if sk_prefix:
            params += [len(sk_prefix), sk_prefix]
        if start_from_sk is not None:
            params.append(start_from_sk)
        params.append(limit + 1)
        if not include_deleted:
            sql = sql.replace(" ORDER BY", " AND is_deleted = 0 ORDER BY")
        async with self.store.read() as tx:
            rows = await tx.fetchall(sql, params)
        more = len(rows) > limit
        items = [DataModel.from_row(row) for row in rows[:limit]]
        return ItemPage(items, items[-1].sk if more else None)

    async def get_history(self, pk: str, sk: str) -> list[DataModel]:
        """The item's data as it was before each change, oldest first (after v4: v1 to v3)."""
        async with self.store.read() as tx:
            rows = await tx.fetchall(
                self.tables.history_all, (pk, remove_sort_key_version(sk), self._now())
            )
        return [DataModel.from_row(row) for row in rows]
