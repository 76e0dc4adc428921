"""Savepoints inside an open transaction: the one home of their SQL, for every engine."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from seawall.store.base import Engine, Params, Row, Statement, Tx

__all__ = ["LazySavepointTx", "open_savepoint", "release_savepoint", "rollback_savepoint"]

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


class LazySavepointTx:
    """A transaction as one unit of work inside it sees it: savepoint `name` is opened just
    before the unit's first statement, so a unit that writes nothing costs no round trip.
    `opened` tells whether there is anything to roll back to. With `joined=True`, a first
    `execute` travels with the savepoint in one round trip where the engine can do that
    (PostgreSQL: its parameters are then bound client-side)."""

    __slots__ = ("_joined", "_name", "_riders", "_tx", "opened")

    def __init__(self, tx: Tx, name: str, *, joined: bool = False) -> None:
        """Wrap `tx`; the savepoint `name` is opened at the first statement."""
        self._tx = tx
        self._name = _checked(name)
        self._joined: Callable[[str, str, Params, Sequence[Statement]], Awaitable[int]] | None = (
            getattr(tx, "execute_joined", None) if joined else None
        )
        self._riders: list[Statement] = []
        self.opened = False

    def ride_with_first(self, sql: str, params: Params = ()) -> None:
        """Run `sql` right after the unit's first statement, in the same round trip where the
        engine can (otherwise as a statement of its own); its row count is not reported."""
        if self.opened:
            raise RuntimeError("ride_with_first must come before the unit's first statement")
        self._riders.append((sql, params))

    @property
    def engine(self) -> Engine:
        """The engine of the underlying transaction."""
        return self._tx.engine

    async def _open(self) -> None:
        if not self.opened:
            await open_savepoint(self._tx, self._name)
            self.opened = True

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement inside the savepoint."""
        if not self.opened and self._joined is not None:
            self.opened = True  # if the statement fails, the savepoint before it still holds
            riders, self._riders = self._riders, []
            return await self._joined(f"SAVEPOINT {self._name}", sql, params, riders)
        await self._open()
        changed = await self._tx.execute(sql, params)
        if self._riders:
            await self._run_riders()
        return changed

    async def _run_riders(self) -> None:
        riders, self._riders = self._riders, []
        for text, values in riders:
            await self._tx.execute(text, values)

    async def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> int:
        """Run one statement per parameter tuple inside the savepoint."""
        await self._open()
        result = await self._tx.executemany(sql, seq_of_params)
        if self._riders:
            await self._run_riders()
        return result

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Return the first row, inside the savepoint."""
        await self._open()
        result = await self._tx.fetchone(sql, params)
        if self._riders:
            await self._run_riders()
        return result

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Return every row, inside the savepoint."""
        await self._open()
        result = await self._tx.fetchall(sql, params)
        if self._riders:
            await self._run_riders()
        return result

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """Return the first column of the first row, inside the savepoint."""
        await self._open()
        result = await self._tx.fetchval(sql, params)
        if self._riders:
            await self._run_riders()
        return result

    def notify(self, channel: str) -> None:
        """Notify `channel` once the underlying transaction commits."""
        self._tx.notify(channel)
