"""The SQL command service's data sync outside the publish: the queue worker's job, the repair
of unfinished commands, and the purge of expired rows (see `projection` for the steps)."""

from __future__ import annotations

import logging
from typing import Any

from seawall.commands.core import CommandCore
from seawall.commands.keys import remove_sort_key_version
from seawall.commands.projection import (
    FAILED,
    STATUS_FINISHED,
    STATUS_GAP,
    DataSyncHandler,
    PreviousVersionPending,
    SyncProgress,
    VersionGapError,
    command_status,
    project,
)
from seawall.commands.rules import CommandNotification, gap_alarm
from seawall.store import Row, Store, Tx

__all__ = ["SqlDataSync", "command_key"]

log = logging.getLogger("seawall.commands")


def command_key(row: Row) -> tuple[Any, ...]:
    """(pk, sk, version) of a stored command row."""
    return row["pk"], row["sk"], int(row["version"])


class SqlDataSync(CommandCore[DataSyncHandler]):
    """Syncs stored commands from data-sync jobs and on repair; purges expired rows."""

    store: Store
    data_sync_wait: float

    async def handle_data_sync_run(self, run: Any) -> None:
        """Worker handler (commit block): sync the command named by the job's payload.

        Waiting for the previous version raises RetryLater; a version gap is alarmed and the
        command marked `check_version:FAILED` (the job ends); another failure marks
        `<step>:FAILED` and is retried by the queue.
        """
        from seawall.jobs import RetryLater

        payload = run.payload
        key = (payload["pk"], remove_sort_key_version(payload["sk"]), int(payload["version"]))
        progress = SyncProgress()
        notes: list[CommandNotification] = []
        row: Row | None = None
        try:
            async with run.commit() as tx:
                row = await tx.fetchone(self.tables.command_one, key)
                if row is None:
                    log.warning("data-sync job names no stored command", extra={"sk": key[1]})
                    return
                notes = await self._sync_in(tx, row, progress)
        except PreviousVersionPending as exc:
            raise RetryLater(self.data_sync_wait, str(exc)) from exc
        except Exception:
            if row is not None:
                await self._mark_failed(row, command_status(progress.step, FAILED))
            raise
        await self._announce(notes)

    async def _sync_in(self, tx: Tx, row: Row, progress: SyncProgress) -> list[CommandNotification]:
        """Sync `row` in `tx`; the notifications to send after the commit."""
        try:
            synced = await project(
                tx,
                row,
                self._handlers,
                tables=self.tables,
                ttl_for=self.ttl_for,
                progress=progress,
            )
        except VersionGapError as gap:
            await tx.execute(self.tables.command_set_status, (STATUS_GAP, *command_key(row)))
            note = self._note(row, STATUS_GAP)
            log.error("data-sync version gap", extra={"cause": str(gap)})
            return [note, gap_alarm(note, str(gap))]
        if not synced:
            return []
        return [self._note(row, STATUS_FINISHED)]

    async def _mark_failed(self, row: Row, status: str) -> None:
        try:
            async with self.store.transaction() as tx:
                await tx.execute(self.tables.command_set_status, (status, *command_key(row)))
        except Exception:
            log.exception("could not record a failed data-sync status")
        await self._announce([self._note(row, status)])

    async def sync_pending(self, *, limit: int = 100) -> int:
        """Sync commands not finished yet, per item in version order (repair after lost jobs);
        return how many were synced. A command still waiting for its previous version is left
        for the next call."""
        notes: list[CommandNotification] = []
        count = 0
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(
                self.tables.command_unfinished, (STATUS_FINISHED, STATUS_GAP, limit)
            )
            for row in rows:
                try:
                    found = await self._sync_in(tx, row, SyncProgress())
                except PreviousVersionPending:
                    continue
                if any(
                    n.action == "command-status" and n.content["status"] == STATUS_FINISHED
                    for n in found
                ):
                    count += 1
                notes += found
        await self._announce(notes)
        return count

    async def purge_expired(self) -> int:
        """Delete the rows whose ttl has passed from the three tables; how many."""
        now = self._now()
        total = 0
        async with self.store.transaction() as tx:
            for table in (self.tables.command, self.tables.data, self.tables.history):
                total += await tx.execute(self.tables.purge(table), (now,))
        return total
