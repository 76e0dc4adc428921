"""The command service as every backend offers it: the `CommandApi` protocol.

`CommandService` (SQLite, PostgreSQL) and `seawall.aws.commands.DynamoCommandService` (DynamoDB)
both implement it, checked by mypy where each is defined and pinned by
`tests/aws/test_commands_dynamo.py`, which runs the framework-parity points on all three engines.
The SQL service also takes a caller's transaction (`tx=`); DynamoDB has no such transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from seawall.commands.context import InvokeContext
from seawall.commands.models import (
    CommandInputModel,
    CommandModel,
    CommandPartialInputModel,
    DataModel,
)

__all__ = ["CommandApi"]


class CommandApi(Protocol):
    """Publish commands by the framework's rules and read the data, commands and history."""

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
