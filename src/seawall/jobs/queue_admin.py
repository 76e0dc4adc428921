"""The queue's operator side: jobs by id, depth per queue, the dead-letter queue, retention.

`QueueAdmin` is the part of `Queue` that reads for operators and moves dead letters; the
queue's other parts are `seawall.jobs.queue` (enqueue, claim, ack) and `seawall.jobs.queue_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seawall.jobs.model import DeadLetter, InvalidJobError, Job, QueueStats
from seawall.jobs.queue_rows import (
    JOB_COLUMNS,
    NOTIFY_CHANNEL,
    check_job_ids,
    check_queue_name,
    row_to_dead_letter,
    row_to_job,
)
from seawall.store.base import Store
from seawall.store.lists import marks
from seawall.store.text import storable_text

__all__ = ["QueueAdmin"]

_CLEANUP_BATCH = 5000
_CLEANUP_PICK = "SELECT {key} FROM seawall_jobs WHERE state = 1 AND finished_at < ? LIMIT ?"
# PostgreSQL deletes the picked rows by physical address (a TID scan); the outer condition is
# checked again on the row as it is now.
_CLEANUP_SQL = {
    "sqlite": f"DELETE FROM seawall_jobs WHERE id IN ({_CLEANUP_PICK.format(key='id')}) "
    "AND state = 1 AND finished_at < ?",
    "postgresql": "DELETE FROM seawall_jobs "
    f"WHERE ctid = ANY(ARRAY({_CLEANUP_PICK.format(key='ctid')})) "
    "AND state = 1 AND finished_at < ?",
}


class QueueAdmin:
    """Reads for operators, the dead-letter queue and retention over `seawall_jobs`."""

    store: Store

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id in any state, or None."""
        if not storable_text(job_id):
            return None  # no job can have this id
        async with self.store.read() as tx:
            row = await tx.fetchone(
                f"SELECT {JOB_COLUMNS} FROM seawall_jobs WHERE id = ?", (job_id,)
            )
        return None if row is None else row_to_job(row)

    async def stats(self) -> list[QueueStats]:
        """Per-queue depth: ready, in flight, delayed, done, dead, oldest ready job's age."""
        now = self.store.clock.time()
        async with self.store.read() as tx:
            rows = await tx.fetchall(
                "SELECT queue, "
                "SUM(CASE WHEN state = 0 AND visible_at <= ? THEN 1 ELSE 0 END) AS ready, "
                "SUM(CASE WHEN state = 0 AND visible_at > ? AND lease_token IS NOT NULL "
                "THEN 1 ELSE 0 END) AS in_flight, "
                "SUM(CASE WHEN state = 0 AND visible_at > ? AND lease_token IS NULL "
                "THEN 1 ELSE 0 END) AS delayed, "
                "SUM(CASE WHEN state = 1 THEN 1 ELSE 0 END) AS done, "
                "SUM(CASE WHEN state = 2 THEN 1 ELSE 0 END) AS dead, "
                "MIN(CASE WHEN state = 0 AND visible_at <= ? THEN enqueued_at END) AS oldest "
                "FROM seawall_jobs GROUP BY queue ORDER BY queue",
                (now, now, now, now),
            )
        return [
            QueueStats(
                queue=row["queue"],
                ready=int(row["ready"] or 0),
                in_flight=int(row["in_flight"] or 0),
                delayed=int(row["delayed"] or 0),
                done=int(row["done"] or 0),
                dead=int(row["dead"] or 0),
                oldest_ready_age_s=None
                if row["oldest"] is None
                else max(0.0, now - float(row["oldest"])),
            )
            for row in rows
        ]

    # -- dead-letter queue -------------------------------------------------------------------

    async def dead_letters(
        self, queue_name: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[DeadLetter]:
        """Dead letters, newest first, optionally of one queue."""
        if limit < 1 or offset < 0:
            raise InvalidJobError("dead_letters needs limit >= 1 and offset >= 0")
        where, params = self._dead_filter(queue_name, None, None)
        async with self.store.read() as tx:
            rows = await tx.fetchall(
                f"SELECT {JOB_COLUMNS} FROM seawall_jobs WHERE {where} "
                "ORDER BY finished_at DESC, id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
        return [row_to_dead_letter(row) for row in rows]

    async def dead_letter(self, job_id: str) -> DeadLetter | None:
        """One dead letter by job id, or None when that job is not in the dead-letter queue."""
        if not storable_text(job_id):
            return None  # no job can have this id
        async with self.store.read() as tx:
            row = await tx.fetchone(
                f"SELECT {JOB_COLUMNS} FROM seawall_jobs WHERE id = ? AND state = 2", (job_id,)
            )
        return None if row is None else row_to_dead_letter(row)

    @staticmethod
    def _dead_filter(
        queue_name: str | None, ids: Sequence[str] | None, error_contains: str | None
    ) -> tuple[str, list[Any]]:
        clauses, params = ["state = 2"], list[Any]()
        if queue_name is not None:
            clauses.append("queue = ?")
            params.append(check_queue_name(queue_name))
        if ids is not None:
            if not ids:
                clauses.append("1 = 0")
            else:
                check_job_ids(ids)
                clauses.append(f"id IN ({marks(len(ids))})")
                params.extend(ids)
        if error_contains is not None:
            if not storable_text(error_contains):
                raise InvalidJobError("an error filter cannot hold NUL or lone surrogates")
            clauses.append("(errors LIKE ? OR dead_reason LIKE ?)")
            pattern = f"%{error_contains}%"
            params.extend([pattern, pattern])
        return " AND ".join(clauses), params

    async def redrive(
        self,
        ids: Sequence[str] | None = None,
        queue_name: str | None = None,
        *,
        error_contains: str | None = None,
        rate_per_s: float | None = None,
        limit: int | None = None,
    ) -> int:
        """Move dead letters back to their queue with their receive count reset (all, by id,
        by queue or by error text). `rate_per_s` spaces their visibility so at most that many
        become ready per second. Returns how many were redriven."""
        if rate_per_s is not None and rate_per_s <= 0:
            raise InvalidJobError(f"rate_per_s must be > 0 (got {rate_per_s})")
        if ids is not None and len(ids) > 30_000:
            raise InvalidJobError("redrive at most 30,000 ids per call")
        where, params = self._dead_filter(queue_name, ids, error_contains)
        sql = f"SELECT id FROM seawall_jobs WHERE {where} ORDER BY finished_at, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        async with self.store.transaction() as tx:
            now = self.store.clock.time()
            found = [row["id"] for row in await tx.fetchall(sql, params)]
            if not found:
                return 0
            step = 0.0 if rate_per_s is None else 1.0 / rate_per_s
            changed = await tx.executemany(
                "UPDATE seawall_jobs SET state = 0, receives = 0, lease_token = NULL, "
                "visible_at = ?, finished_at = NULL, dead_reason = NULL WHERE id = ? AND state = 2",
                [(now + index * step, job_id) for index, job_id in enumerate(found)],
            )
            tx.notify(NOTIFY_CHANNEL)
        return changed if changed >= 0 else len(found)

    async def purge_dead_letters(
        self, queue_name: str | None = None, ids: Sequence[str] | None = None
    ) -> int:
        """Delete dead letters (all, of one queue, or by id); return how many were deleted."""
        where, params = self._dead_filter(queue_name, ids, None)
        async with self.store.transaction() as tx:
            return await tx.execute(f"DELETE FROM seawall_jobs WHERE {where}", params)

    async def cleanup(self, older_than_s: float, *, batch_size: int = _CLEANUP_BATCH) -> int:
        """Delete done jobs finished more than `older_than_s` ago and expired dedup keys.

        Ready, in-flight, delayed and dead jobs are never deleted (dead letters go by `purge`).
        Rows go `batch_size` at a time, each batch its own short transaction, so a large backlog
        never holds the writer (or row locks) for long. Returns how many jobs were deleted.
        """
        if not older_than_s >= 0:  # also refuses NaN
            raise InvalidJobError(f"older_than_s must be >= 0 (got {older_than_s})")
        if batch_size < 1:
            raise InvalidJobError(f"batch_size must be >= 1 (got {batch_size})")
        now = self.store.clock.time()
        sql = _CLEANUP_SQL[self.store.engine]
        deleted = 0
        while True:
            async with self.store.transaction() as tx:
                count = await tx.execute(sql, (now - older_than_s, batch_size, now - older_than_s))
            deleted += count
            if count < batch_size:
                break
        async with self.store.transaction() as tx:
            await tx.execute("DELETE FROM seawall_job_dedup WHERE expires_at <= ?", (now,))
        return deleted
