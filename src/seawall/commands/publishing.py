"""The version rules of `publish_async`, on every engine: which stored command a publish builds
on, its next version, the 400 and 409 answers, and the retry of a lost race with -1.

`CommandService` (SQL) and `DynamoCommandService` call `store_next_async` with their own reads
and conditional insert; the rule itself lives here once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from seawall.commands.errors import VersionConflictError, VersionMismatchError
from seawall.commands.keys import VERSION_FIRST, VERSION_LATEST
from seawall.commands.models import CommandInputModel
from seawall.commands.rules import LATEST_RETRIES

__all__ = ["store_next_async"]

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
