"""Storage: `open_store(url)` gives a SQLite or PostgreSQL store with one contract."""

from __future__ import annotations

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.store.base import (
    Engine,
    Row,
    SchemaTooNewError,
    Store,
    StoreError,
    StoreUnavailableError,
    Tx,
)

__all__ = [
    "Engine",
    "Row",
    "SchemaTooNewError",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "Tx",
    "open_store",
]


def open_store(url: str, *, clock: Clock = SYSTEM_CLOCK, **options: object) -> Store:
    """Open a store from a URL: `sqlite:///path.db` or `postgresql://user@host/db[?schema=s]`.

    Connections are made lazily on first use; call `await store.migrate()` once at startup.
    """
    if url.startswith("sqlite:///"):
        from seawall.store.sqlite import SqliteStore

        return SqliteStore(url[len("sqlite:///") :], clock=clock, **options)  # type: ignore[arg-type]
    if url.startswith(("postgresql://", "postgres://")):
        from seawall.store.postgres import PostgresStore

        return PostgresStore(url, clock=clock, **options)  # type: ignore[arg-type]
    raise ValueError(
        f"unsupported store URL {url!r}: use sqlite:///path/to/seawall.db "
        "or postgresql://user@host:5432/dbname"
    )
