"""The command service as every backend offers it: the `CommandApi` protocol.

`CommandService` (SQLite, PostgreSQL) and `seawall.aws.commands.DynamoCommandService` (DynamoDB)
both implement it, checked by mypy where each is defined and pinned by
`tests/aws/test_commands_dynamo.py`, which runs the framework-parity points on all three engines.
The SQL service also takes a caller's transaction (`tx=`); DynamoDB has no such transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from seawall.commands.context import InvokeContext
from seawall.commands.models import (
    CommandInputModel,
    CommandModel,
    CommandPartialInputModel,
    DataModel,
)

__all__ = ["CommandApi", "DetailKey", "ItemPage", "detail_key"]


@dataclass(frozen=True, slots=True)
class DetailKey:
    """An item key; `sk` may carry a version suffix (`sk@3`) to name one version."""

    pk: str
    sk: str


def detail_key(key: DetailKey | Mapping[str, str]) -> tuple[str, str]:
    """(pk, sk) of a DetailKey or of the framework's `{pk, sk}` body."""
    if isinstance(key, DetailKey):
        return key.pk, key.sk
    return str(key["pk"]), str(key["sk"])


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One page of `list_items_by_pk`, as the framework's `{lastSk, items}`.

    `last_sk` is the sort key to pass back as `start_from_sk` for the next page; None at the end
    (only set when more items follow, where DynamoDB may also set it on a full last page).
    """

    items: list[DataModel]
    last_sk: str | None


class CommandApi(Protocol):
    """Publish commands by the framework's rules and read the data, commands and history."""

    joins_caller_transactions: bool
    """True when publish and read take a caller's transaction (`tx=`): the SQL service only."""

    async def publish_sync(
        self,
        input: CommandInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
    ) -> CommandModel | None:
        """Store the command and apply it to the data now (one atomic write)."""
        ...

    async def publish_async(
        self,
        input: CommandInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
    ) -> CommandModel | None:
        """Store the command; data sync applies it later, in version order."""
        ...

    async def publish_partial_update_sync(
        self,
        input: CommandPartialInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
    ) -> CommandModel | None:
        """Merge a partial update into the current item and apply it now."""
        ...

    async def publish_partial_update_async(
        self,
        input: CommandPartialInputModel | Mapping[str, Any],
        *,
        invoke_context: InvokeContext,
        source: str | None = None,
        request_id: str | None = None,
    ) -> CommandModel | None:
        """Merge a partial update into a stored command; data sync applies it later."""
        ...

    async def get_item(self, key: Any) -> DataModel | None:
        """The current data of (pk, sk), or None."""
        ...

    async def get_command(
        self, pk: str, sk: str, version: int | None = None
    ) -> CommandModel | None:
        """One stored command (`sk@N` or `version=`), or None."""
        ...

    async def get_latest_item(self, pk: str, sk: str) -> CommandModel | None:
        """The newest stored command of (pk, sk), or None."""
        ...

    async def list_items_by_pk(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        start_from_sk: str | None = None,
        limit: int = 10,
        order: Literal["asc", "desc"] = "asc",
        include_deleted: bool = True,
    ) -> Any:
        """A page of the data items of `pk` (`ItemPage`: items and `last_sk`)."""
        ...

    async def get_history(self, pk: str, sk: str) -> list[DataModel]:
        """The data as it was before each change, oldest first."""
        ...
