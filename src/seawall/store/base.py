"""The storage contract every engine keeps: transactions of plain SQL with `?` placeholders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

from seawall.clock import Clock

__all__ = [
    "Engine",
    "Params",
    "Row",
    "SchemaTooNewError",
    "Statement",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "Tx",
]

Engine = Literal["sqlite", "postgresql"]
Row = dict[str, Any]
Params = Sequence[Any]
Statement = tuple[str, Params]
"""One SQL statement with `?` placeholders and its parameters."""


class StoreError(Exception):
    """Base class of storage errors."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or opened; the message says which and what to check."""


class SchemaTooNewError(StoreError):
    """The database was migrated by a newer seawall than this one; upgrade seawall first."""


class Tx(Protocol):
    """One open transaction. SQL uses `?` placeholders on every engine; time is a REAL epoch."""

    @property
    def engine(self) -> Engine:
        """Which engine runs this transaction, for the few statements whose dialects differ."""
        ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> int:
        """Run one statement for each parameter tuple; return the rows changed in total."""
        ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query and return its first row as a dict, or None."""
        ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return every row as a dict."""
        ...

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """Run a query and return the first column of its first row, or None."""
        ...

    def notify(self, channel: str) -> None:
        """Wake listeners of `channel` once this transaction commits."""
        ...


class Store(Protocol):
    """A database holding the queue, inbox, idempotency records and commands."""

    @property
    def engine(self) -> Engine:
        """The engine's name."""
        ...

    @property
    def url(self) -> str:
        """The store URL with any password removed."""
        ...

    clock: Clock

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """Open a read-write transaction; it commits durably on normal exit, else rolls back."""
        ...

    def read(self) -> AbstractAsyncContextManager[Tx]:
        """Open a read-only snapshot for queries that write nothing."""
        ...

    async def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""
        ...

    async def schema_status(self) -> tuple[int, int]:
        """Return (version in the database, latest version this code knows)."""
        ...

    async def wait_for_notify(self, channel: str, timeout: float) -> bool:
        """Wait until `channel` is notified or `timeout` passes; True when notified."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the database answers."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...
