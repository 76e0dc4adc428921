"""Savepoints inside an open transaction: the one home of their SQL, for every engine."""

from __future__ import annotations

import re

from seawall.store.base import Tx

__all__ = ["open_savepoint", "release_savepoint", "rollback_savepoint"]

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _checked(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"savepoint name must be a lower-case SQL identifier, got {name!r}")
    return name


async def open_savepoint(tx: Tx, name: str) -> None:
    """Mark a point in `tx` that later statements can be rolled back to."""
    await tx.execute(f"SAVEPOINT {_checked(name)}")


async def rollback_savepoint(tx: Tx, name: str, *, release: bool = True) -> None:
    """Undo everything since `open_savepoint(tx, name)`; then forget the savepoint unless
    `release` is False (a savepoint left open ends with the transaction, one statement less)."""
    await tx.execute(f"ROLLBACK TO SAVEPOINT {_checked(name)}")
    if release:
        await tx.execute(f"RELEASE SAVEPOINT {name}")


async def release_savepoint(tx: Tx, name: str) -> None:
    """Keep everything since `open_savepoint(tx, name)` and forget the savepoint."""
    await tx.execute(f"RELEASE SAVEPOINT {_checked(name)}")
