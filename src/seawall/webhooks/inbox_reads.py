"""Inbox rows for many concurrent handlers: loads waiting together are read in one go.

Each event a worker starts needs its stored row (body, type, attempts, owner). Read one by one,
every row costs a transaction of its own (on PostgreSQL: a pooled connection and three round
trips). `InboxReads.load` sends a read at once when none is out; loads asked for while one is
out wait for it to return and then go together in the next read (`inbox.load_rows`). A lone
load is never delayed, and a failed read fails exactly the loads it carried.
"""

from __future__ import annotations

import asyncio

from seawall.store import Row, Store
from seawall.webhooks import inbox

__all__ = ["InboxReads"]

_Key = tuple[str, str]


class InboxReads:
    """Coalesces concurrent `load`s of inbox rows into few reads (see the module docstring)."""

    __slots__ = ("_pending", "_reader", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[_Key, asyncio.Future[Row | None]]] = []
        self._reader: asyncio.Task[None] | None = None

    async def load(self, source: str, event_id: str) -> Row | None:
        """The event's full inbox row, or None when no such event is stored."""
        loop = asyncio.get_running_loop()
        if self._reader is not None and self._reader.get_loop() is not loop:
            self._reader, self._pending = None, []  # the loop it ran on is gone
        future: asyncio.Future[Row | None] = loop.create_future()
        self._pending.append(((source, event_id), future))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_all())
        return await future

    async def _read_all(self) -> None:
        batch: list[tuple[_Key, asyncio.Future[Row | None]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    async with self._store.read() as tx:
                        rows = await inbox.load_rows(tx, [key for key, _ in batch])
                        # The rows are what they are: the loads go on while the read ends.
                        for key, future in batch:
                            if not future.done():
                                future.set_result(rows.get(key))
                except Exception as exc:
                    _fail(batch, exc)  # only loads not answered yet
                    continue
        except BaseException as exc:  # cancelled: no load may wait for a read that never comes
            _fail([*batch, *self._pending], exc)
            self._pending = []
            raise


def _fail(batch: list[tuple[_Key, asyncio.Future[Row | None]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
