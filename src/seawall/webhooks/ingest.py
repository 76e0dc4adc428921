"""Stores verified webhooks in batches: inbox rows and their processing jobs, one commit per batch.

Requests hand their entry to `Ingestor.submit` and wait. A writer opens a transaction and only then
drains everything waiting into it (insert the inbox rows, enqueue a job for each row that was new),
so what arrived while it waited for the store joins the batch; it answers each waiter only after
that transaction committed durably. While it writes, new requests queue up for the next batch, so
the commit cost is shared under load and a lone request pays for one transaction. Up to
`max_writers` batches are written at once: PostgreSQL overlaps their round trips and commits
(default 4); on SQLite (default 2) the store shares one commit between them.

A batch whose transaction fails while the store still answers a ping was broken by one of its
entries (text the engine refuses, a constraint): its entries are then written one by one, so
only the entry at fault gets the error (a 503) and every other request its own true answer.

The inbox row's `job_id` stays NULL at first: the first job is the only one, so it needs no name;
a replay records the job it creates (see `processing`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from seawall.jobs.queue import Queue
from seawall.store import Store, Tx
from seawall.webhooks import inbox
from seawall.webhooks.inbox import InboxEntry
from seawall.webhooks.job_payload import event_job_text

__all__ = ["Ingestor"]

_Waiter = tuple[InboxEntry, int | None, "asyncio.Future[bool]"]


class Ingestor:
    """Batches inbox writes; `submit` answers True for a new event, False for a duplicate."""

    def __init__(
        self,
        store: Store,
        queue: Queue,
        queue_name: str,
        *,
        max_batch: int = 512,
        max_writers: int | None = None,
        queue_for: Callable[[str, str], str] | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.queue_name = queue_name
        self.queue_for = queue_for
        """Which queue an event's processing job goes to, by (source, type); `queue_name` when
        None (Webhooks sends events with a commit-block handler to the `.io` queue)."""
        self.max_batch = max_batch
        self.max_writers = max_writers or (4 if store.engine == "postgresql" else 2)
        self._waiting: list[_Waiter] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._taker_waiting = False
        """A writer waits for its transaction and will take everything waiting (one at most)."""

    async def submit(self, entry: InboxEntry, max_receives: int | None) -> bool:
        """Store `entry` (and enqueue its job) durably; False when (source, id) was stored before.

        Raises the store's error when the batch could not be committed (nothing of it was kept).
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((entry, max_receives, future))
        # A writer about to take the waiting entries takes this one too; a second would only
        # open an empty transaction after it.
        if not self._taker_waiting and len(self._writers) < self.max_writers:
            self._writers.add(asyncio.create_task(self._drain()))
        return await future

    async def _drain(self) -> None:
        try:
            # Another writer waiting for a transaction will take what is waiting (and loop for
            # any rest), so this one stops rather than open an empty transaction after it.
            # Only the taker takes from the queue, so its batch is never empty: an empty batch
            # below means it had not taken yet.
            while self._waiting and not self._taker_waiting:
                batch: list[_Waiter] = []
                self._taker_waiting = True
                try:
                    async with self.store.transaction() as tx:
                        # Taken once the transaction is open: whatever arrived while this
                        # writer waited for the store joins it (fewer, larger transactions).
                        batch = self._waiting[: self.max_batch]
                        del self._waiting[: self.max_batch]
                        self._taker_waiting = False
                        results = await self._write(tx, batch)
                except BaseException as exc:
                    if not batch:  # the transaction did not open: fail those waiting for it
                        self._taker_waiting = False
                        batch = self._waiting[: self.max_batch]
                        del self._waiting[: self.max_batch]
                    elif len(batch) > 1 and isinstance(exc, Exception) and await self._alive():
                        # The store is up, so one entry broke the batch: write each on its own,
                        # so every other request gets its own true answer.
                        await self._one_by_one(batch)
                        continue
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, _, future), new in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(new)
        finally:
            # Leave the set before yielding to the loop again: a request submitted from now on
            # must see a free writer slot, or its entry would wait with no writer to take it.
            self._writers.discard(asyncio.current_task())

    async def _alive(self) -> bool:
        """True when the store answers (a failed batch was then its entries' fault)."""
        try:
            await self.store.ping()
        except Exception:
            return False
        return True

    async def _one_by_one(self, batch: Sequence[_Waiter]) -> None:
        """Write each waiter of a failed batch in its own transaction; answer each alone."""
        for waiter in batch:
            future = waiter[2]
            try:
                async with self.store.transaction() as tx:
                    [new] = await self._write(tx, [waiter])
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(new)

    async def _write(self, tx: Tx, batch: Sequence[_Waiter]) -> list[bool]:
        """Insert the batch's new events and enqueue a job for each, inside `tx`."""
        first: dict[tuple[str, str], int] = {}
        for index, waiter in enumerate(batch):
            entry = waiter[0]
            first.setdefault((entry.source, entry.event_id), index)
        unique = [batch[i][0] for i in first.values()]
        inserted = await inbox.insert_entries(tx, unique) if unique else set()
        by_queue: dict[tuple[str, int | None], list[str]] = {}
        route = self.queue_for
        for key, index in first.items():
            if key in inserted:
                entry, max_receives = batch[index][0], batch[index][1]
                name = self.queue_name if route is None else route(entry.source, entry.event_type)
                by_queue.setdefault((name, max_receives), []).append(event_job_text(*key))
        for (name, max_receives), payloads in by_queue.items():
            await self.queue.enqueue_encoded(tx, name, payloads, max_receives=max_receives)
        return [
            first[key] == index and key in inserted
            for index, key in enumerate((w[0].source, w[0].event_id) for w in batch)
        ]
