"""The version rules of a publish, on every engine: what it builds on, its next version, the
400 and 409 answers, and the retry of a lost race with -1.

`CommandService` (SQL) and `DynamoCommandService` call `store_next_sync` and `store_next_async`
with their own reads and conditional writes; the rules live here once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from seawall.commands.errors import VersionConflictError, VersionMismatchError
from seawall.commands.keys import VERSION_FIRST, VERSION_LATEST
from seawall.commands.models import CommandInputModel
from seawall.commands.rules import LATEST_RETRIES, check_sync_version

__all__ = ["store_next_async", "store_next_sync"]

Row = dict[str, Any]


async def store_next_async(
    item: CommandInputModel,
    sk: str,
    *,
    latest: Callable[[], Awaitable[Row | None]],
    command_at: Callable[[int], Awaitable[Row | None]],
    max_version: Callable[[], Awaitable[int]],
    unchanged: Callable[[Row], bool],
    new_row: Callable[[int], Row],
    insert: Callable[[Row], Awaitable[bool]],
    known: Row | None = None,
) -> Row | None:
    """Store the command `item` (unversioned `sk`) as the next version; None if unchanged.

    The base is `known` when given, else: -1 the latest command (none: version 0); N > 0 the
    command `sk@N`, which must exist (VersionMismatchError, 400); 0 nothing. `insert` stores the
    new row unless its version exists: then another publish won (VersionConflictError, 409),
    except with -1, which builds on the new latest (at most LATEST_RETRIES times).
    """
    for _ in range(LATEST_RETRIES):
        base: Row | None = None
        if known is not None:
            base, current = known, int(known["version"])
        elif item.version == VERSION_LATEST:
            base = await latest()
            current = 0 if base is None else int(base["version"])
        elif item.version > VERSION_FIRST:
            base = await command_at(item.version)
            if base is None:
                raise VersionMismatchError(item.pk, sk, item.version, await max_version())
            current = item.version
        else:
            current = VERSION_FIRST
        if base is not None and unchanged(base):
            return None
        row = new_row(current + 1)
        if await insert(row):
            return row
        if item.version != VERSION_LATEST or known is not None:
            raise VersionConflictError(item.pk, sk, current, await max_version())
    raise VersionConflictError(item.pk, sk, VERSION_LATEST, await max_version())


async def store_next_sync(
    pk: str,
    sk: str,
    *,
    data: Callable[[], Awaitable[Row | None]],
    build: Callable[[Row | None], CommandInputModel],
    unchanged: Callable[[Row, CommandInputModel], bool],
    new_row: Callable[[CommandInputModel, int], Row],
    commit: Callable[[Row], Awaitable[bool]],
    max_version: Callable[[], Awaitable[int]],
) -> Row | None:
    """Store and project the command built from the live data row (`data()`, None when there is
    none) as the next version; None if unchanged.

    The input's version must be -1 or the data row's (VersionMismatchError, 400). `commit`
    stores the command with its projection unless the version was taken meanwhile: then another
    publish won (VersionConflictError, 409), except with -1, which reads the data row again and
    builds on it (at most LATEST_RETRIES times).
    """
    for _ in range(LATEST_RETRIES):
        current_row = await data()
        item = build(current_row)
        current = 0 if current_row is None else int(current_row["version"])
        check_sync_version(item.pk, sk, item.version, current)
        if current_row is not None and unchanged(current_row, item):
            return None
        row = new_row(item, current + 1)
        if await commit(row):
            return row
        if item.version != VERSION_LATEST:
            raise VersionConflictError(item.pk, sk, item.version, await max_version())
    raise VersionConflictError(pk, sk, VERSION_LATEST, await max_version())
