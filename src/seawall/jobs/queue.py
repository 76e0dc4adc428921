"""The durable queue: enqueue (in the caller's transaction if asked), claim under a lease, ack,
nack, extend; the dead-letter queue, retention and stats come from `QueueAdmin`
(`seawall.jobs.queue_admin`), row mapping and checks from `seawall.jobs.queue_rows`.

Semantics follow SQS: every claim counts as a receive; a job claimed with its receives already
at `max_receives` moves to the dead-letter queue instead of being handed out; ack, nack, extend and
release only act while the caller's lease token is still the job's token, so a worker whose lease
expired (and whose job someone else now holds) changes nothing. A worker that claims ahead of its
runners leases without counting (`count_receive=False`) and counts each receive with `start` just
before the handler runs, so jobs that crash with the worker before starting keep their attempts.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from seawall.jobs.model import LAST_RECEIVE_SQL, InvalidJobError, Job
from seawall.jobs.queue_admin import QueueAdmin
from seawall.jobs.queue_rows import (
    JOB_COLUMNS,
    NOTIFY_CHANNEL,
    check_queue_name,
    encode_payload,
    error_record,
    new_job_ids,
    row_to_job,
)
from seawall.store.base import Statement, Store, Tx
from seawall.store.lists import CHUNK, chunks, marks

__all__ = ["NOTIFY_CHANNEL", "Queue"]

_PENDING, _DONE, _DEAD = 0, 1, 2

DeadLetterHook = Callable[[Tx, list[Job], str], Awaitable[None]]
"""Told, inside the moving transaction, which jobs went to the dead-letter queue and why."""
_MAX_ERRORS = 10

_INSERT_HEAD = (
    "INSERT INTO seawall_jobs (id, queue, payload, priority, max_receives, enqueued_at, "
    "visible_at, dedup_key) VALUES "
)
_INSERT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"
_DEDUP_UPSERT = (
    "INSERT INTO seawall_job_dedup (queue, dedup_key, job_id, expires_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (queue, dedup_key) DO UPDATE SET job_id = excluded.job_id, "
    "expires_at = excluded.expires_at WHERE seawall_job_dedup.expires_at <= ? RETURNING job_id"
)
_CLAIM_SET = (
    "receives = CASE WHEN " + LAST_RECEIVE_SQL + " THEN receives ELSE {receives} END, "
    "state = CASE WHEN " + LAST_RECEIVE_SQL + " THEN 2 ELSE 0 END, "
    "lease_token = CASE WHEN " + LAST_RECEIVE_SQL + " THEN NULL ELSE ? END, "
    "visible_at = CASE WHEN " + LAST_RECEIVE_SQL + " THEN visible_at ELSE ? END, "
    "finished_at = CASE WHEN " + LAST_RECEIVE_SQL + " THEN ? ELSE finished_at END, "
    "dead_reason = CASE WHEN " + LAST_RECEIVE_SQL + " THEN ? ELSE dead_reason END "
)
_CLAIM_PICK = (
    "SELECT id{alias} FROM seawall_jobs WHERE queue = ? AND state = 0 AND visible_at <= ? "
    "ORDER BY priority DESC, visible_at, id LIMIT ?"
)
# SQLite has one writer at a time, so the pick needs no lock. PostgreSQL skips rows other
# claimers hold and joins the picked ids (an `IN (subquery)` there plans as a table scan).
# A claim that counts a receive adds one; a lease taken ahead (counted by `start`) adds none.
_CLAIM_SQL = {
    (engine, counted): sql.format(receives="receives + 1" if counted else "receives")
    for engine, sql in {
        "sqlite": f"UPDATE seawall_jobs SET {_CLAIM_SET}"
        f"WHERE id IN ({_CLAIM_PICK.format(alias='')}) RETURNING {JOB_COLUMNS}",
        "postgresql": f"WITH picked AS ({_CLAIM_PICK.format(alias=' AS picked_id')} "
        f"FOR UPDATE SKIP LOCKED) UPDATE seawall_jobs SET {_CLAIM_SET}"
        f"FROM picked WHERE id = picked.picked_id RETURNING {JOB_COLUMNS}",
    }.items()
    for counted in (True, False)
}
_ACK = (
    "UPDATE seawall_jobs SET state = 1, finished_at = ?, lease_token = NULL "
    "WHERE id = ? AND lease_token = ? AND state = 0"
)
_NACK = (
    "UPDATE seawall_jobs SET state = ?, lease_token = NULL, visible_at = ?, finished_at = ?, "
    "dead_reason = ?, errors = ? WHERE id = ? AND lease_token = ? AND state = 0"
)
# Statements that find jobs by a list of ids guard on the lease token alone (every move out of
# pending clears it). Beside `state = 0`, the claim index's condition, PostgreSQL planning with
# stale statistics scans that whole index (every pending job) instead of the primary key.
_ACK_IDS = (
    "UPDATE seawall_jobs SET state = 1, finished_at = ?, lease_token = NULL "
    "WHERE lease_token = ? AND id IN "
)
_START = (
    "UPDATE seawall_jobs SET receives = receives + 1, visible_at = COALESCE(?, visible_at) "
    "WHERE lease_token = ? AND state = 0 AND id IN "
)
"""Counts the receive of leased jobs whose handlers start (`start`, `start_statement`)."""
_EXTEND = "UPDATE seawall_jobs SET visible_at = ? WHERE id = ? AND lease_token = ? AND state = 0"


@dataclass(frozen=True, slots=True)
class _Item:
    """One job to insert, already validated and encoded."""

    queue: str
    body: str
    dedup_key: str | None
    priority: int
    max_receives: int
    delay: float


class Queue(QueueAdmin):
    """SQS-style queues (many named queues in one table) on a seawall Store.

    Enqueues made without a caller's transaction are combined: concurrent callers share one
    transaction and one commit (each still returns only after that commit), which multiplies
    enqueue throughput on engines where a commit waits for the disk. `combine_writes=False`
    gives every call its own transaction.
    """

    def __init__(
        self,
        store: Store,
        *,
        default_max_receives: int = 5,
        dedup_window_s: float = 300.0,
        max_errors: int = _MAX_ERRORS,
        combine_writes: bool = True,
    ) -> None:
        if default_max_receives < 1:
            raise InvalidJobError(f"default_max_receives must be >= 1 (got {default_max_receives})")
        if dedup_window_s < 0:
            raise InvalidJobError(f"dedup_window_s must be >= 0 (got {dedup_window_s})")
        self.store = store
        self.default_max_receives = default_max_receives
        self.dedup_window_s = dedup_window_s
        self.max_errors = max_errors
        self.combine_writes = combine_writes
        self._waiting: list[tuple[list[_Item], asyncio.Future[list[str | None]]]] = []
        self._combiner: asyncio.Task[None] | None = None
        self._dead_hooks: dict[str, DeadLetterHook] = {}

    def on_dead_letter(self, queue_name: str, hook: DeadLetterHook) -> None:
        """Call `hook(tx, jobs, reason)` whenever jobs of `queue_name` move to the dead-letter
        queue, inside the transaction that moves them (so the owner of the work, for example
        the webhook inbox, records the death atomically with it). One hook per queue."""
        check_queue_name(queue_name)
        self._dead_hooks[queue_name] = hook

    @asynccontextmanager
    async def _tx(self, tx: Tx | None) -> AsyncIterator[Tx]:
        if tx is not None:
            yield tx
        else:
            async with self.store.transaction() as own:
                yield own

    # -- enqueue -----------------------------------------------------------------------------

    def _options(
        self, delay: float, max_receives: int | None, priority: int
    ) -> tuple[float, int, int]:
        if delay < 0:
            raise InvalidJobError(f"delay must be >= 0 seconds (got {delay})")
        receives = self.default_max_receives if max_receives is None else max_receives
        if receives < 1:
            raise InvalidJobError(f"max_receives must be >= 1 (got {max_receives})")
        if not isinstance(priority, int):
            raise InvalidJobError(f"priority must be an int (got {priority!r})")
        return float(delay), int(receives), priority

    async def enqueue(
        self,
        queue_name: str,
        payload: dict[str, Any],
        *,
        tx: Tx | None = None,
        delay: float = 0.0,
        dedup_key: str | None = None,
        max_receives: int | None = None,
        priority: int = 0,
    ) -> str | None:
        """Add one job; return its id, or None when `dedup_key` was seen within the window."""
        ids = await self.enqueue_many(
            queue_name,
            [payload],
            tx=tx,
            delay=delay,
            dedup_keys=None if dedup_key is None else [dedup_key],
            max_receives=max_receives,
            priority=priority,
        )
        return ids[0]

    async def enqueue_many(
        self,
        queue_name: str,
        payloads: Sequence[dict[str, Any]],
        *,
        tx: Tx | None = None,
        delay: float = 0.0,
        dedup_keys: Sequence[str | None] | None = None,
        max_receives: int | None = None,
        priority: int = 0,
    ) -> list[str | None]:
        """Add many jobs in one transaction (few statements); None marks a deduplicated one."""
        check_queue_name(queue_name)
        delay, receives, priority = self._options(delay, max_receives, priority)
        if dedup_keys is not None and len(dedup_keys) != len(payloads):
            raise InvalidJobError("dedup_keys must have one entry (or None) per payload")
        keys: Sequence[str | None] = dedup_keys or [None] * len(payloads)
        for key in keys:
            if key is not None and (not isinstance(key, str) or not key):
                raise InvalidJobError(f"dedup_key must be a non-empty string (got {key!r})")
        items = [
            _Item(queue_name, encode_payload(payload), key, priority, receives, delay)
            for payload, key in zip(payloads, keys, strict=True)
        ]
        if not items:
            return []
        if tx is not None:
            return await self._write(tx, items)
        if not self.combine_writes:
            async with self.store.transaction() as own:
                return await self._write(own, items)
        future: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._combiner is None or self._combiner.done():
            self._combiner = asyncio.create_task(self._combine())
        return await asyncio.shield(future)

    async def enqueue_encoded(
        self,
        tx: Tx,
        queue_name: str,
        payloads_json: Sequence[str],
        *,
        max_receives: int | None = None,
    ) -> list[str]:
        """Add jobs inside `tx` whose payloads are already JSON objects as text; return their ids.

        The lean path for internal callers that build their payloads themselves (the webhook
        ingestor): no dedup keys, no delay, priority 0, and the payload text is stored as given
        (the caller guarantees it is a JSON object). The queue name and options are checked once
        per call, not per job.
        """
        check_queue_name(queue_name)
        _, receives, _ = self._options(0.0, max_receives, 0)
        if not payloads_json:
            return []
        now = self.store.clock.time()
        ids = new_job_ids(len(payloads_json))
        for start in range(0, len(ids), CHUNK):
            flat: list[Any] = []
            chunk = ids[start : start + CHUNK]
            for job_id, body in zip(chunk, payloads_json[start : start + CHUNK], strict=True):
                flat += (job_id, queue_name, body, 0, receives, now, now, None)
            await tx.execute(_INSERT_HEAD + ", ".join([_INSERT_ROW] * len(chunk)), flat)
        tx.notify(NOTIFY_CHANNEL)
        return ids

    async def _combine(self) -> None:
        """Write the enqueues of concurrent callers together: one transaction, one commit."""
        while self._waiting:
            requests, self._waiting = self._waiting, []
            items = [item for batch, _ in requests for item in batch]
            try:
                async with self.store.transaction() as tx:
                    ids = await self._write(tx, items)
            except BaseException as exc:
                for _, future in requests:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            start = 0
            for batch, future in requests:
                if not future.done():
                    future.set_result(ids[start : start + len(batch)])
                start += len(batch)

    async def _write(self, tx: Tx, items: list[_Item]) -> list[str | None]:
        now = self.store.clock.time()
        ids: list[str | None] = [*new_job_ids(len(items))]
        for index, item in enumerate(items):
            if item.dedup_key is None:
                continue
            won = await tx.fetchone(
                _DEDUP_UPSERT,
                (item.queue, item.dedup_key, ids[index], now + self.dedup_window_s, now),
            )
            if won is None:
                ids[index] = None
        rows = [
            (job_id, i.queue, i.body, i.priority, i.max_receives, now, now + i.delay, i.dedup_key)
            for job_id, i in zip(ids, items, strict=True)
            if job_id is not None
        ]
        for chunk in chunks(rows):
            flat = [value for row in chunk for value in row]
            await tx.execute(_INSERT_HEAD + ", ".join([_INSERT_ROW] * len(chunk)), flat)
        if rows:
            tx.notify(NOTIFY_CHANNEL)
        return ids

    # -- leases ------------------------------------------------------------------------------

    async def claim(
        self, queue_name: str, *, limit: int = 1, visibility_timeout: float = 30.0
    ) -> list[Job]:
        """Lease up to `limit` ready jobs for `visibility_timeout` seconds (one receive each)."""
        jobs, _ = await self.claim_counted(
            queue_name, limit=limit, visibility_timeout=visibility_timeout
        )
        return jobs

    async def claim_counted(
        self,
        queue_name: str,
        *,
        limit: int = 1,
        visibility_timeout: float = 30.0,
        count_receive: bool = True,
    ) -> tuple[list[Job], int]:
        """Like `claim`, also returning how many jobs this claim moved to the dead-letter queue.
        With `count_receive=False` the jobs are only leased: `start` counts each one's receive
        when its handler is about to run (and `release(..., counted=False)` hands back the rest).
        """
        check_queue_name(queue_name)
        if limit < 1:
            raise InvalidJobError(f"claim limit must be >= 1 (got {limit})")
        if visibility_timeout <= 0:
            raise InvalidJobError(f"visibility_timeout must be > 0 (got {visibility_timeout})")
        token = secrets.token_hex(12)
        async with self.store.transaction() as tx:
            if tx.engine == "postgresql":
                # A claim lost in a server crash only makes its jobs visible again (receives
                # not counted): it need not wait for the WAL flush, which lets workers claim
                # small batches without a disk flush each.
                await tx.execute("SET LOCAL synchronous_commit TO OFF")
            now = self.store.clock.time()
            lease = (token, now + visibility_timeout, now, "receive limit reached")
            pick = (queue_name, now, limit)
            params = pick + lease if tx.engine == "postgresql" else lease + pick
            rows = await tx.fetchall(_CLAIM_SQL[tx.engine, count_receive], params)
            dead = [row for row in rows if int(row["state"]) == _DEAD]
            if dead:
                await tx.executemany(
                    "UPDATE seawall_jobs SET errors = ? WHERE id = ?",
                    [
                        (
                            self._append_error(
                                json.loads(row["errors"]),
                                error_record(
                                    now,
                                    f"receive limit reached after {row['receives']} receives; "
                                    "the last lease expired without an ack",
                                    None,
                                ),
                            ),
                            row["id"],
                        )
                        for row in dead
                    ],
                )
                hook = self._dead_hooks.get(queue_name)
                if hook is not None:
                    await hook(
                        tx,
                        [row_to_job(row) for row in dead],
                        "receive limit reached: the last lease expired without an ack",
                    )
        jobs = [row_to_job(row) for row in rows if int(row["state"]) == _PENDING]
        jobs.sort(key=lambda j: (-j.priority, j.enqueued_at, j.id))
        return jobs, len(dead)

    def _append_error(self, errors: list[dict[str, Any]], record: dict[str, Any]) -> str:
        return json.dumps(([*errors, record])[-self.max_errors :], separators=(",", ":"))

    async def ack(self, job: Job, *, tx: Tx | None = None) -> bool:
        """Mark the job done if this lease still holds it; False (and no change) otherwise."""
        token = self._token(job)
        async with self._tx(tx) as t:
            changed = await t.execute(_ACK, (self.store.clock.time(), job.id, token))
        return changed == 1

    async def ack_many(self, jobs: Sequence[Job], *, tx: Tx | None = None) -> int:
        """Ack many jobs in few statements; return how many were still held by their lease."""
        by_token = self._ids_by_token(jobs)
        if not by_token:
            return 0
        done = 0
        async with self._tx(tx) as t:
            now = self.store.clock.time()
            for token, ids in by_token.items():
                for chunk in chunks(ids):
                    done += await t.execute(
                        f"{_ACK_IDS}({marks(len(chunk))})", (now, token, *chunk)
                    )
        return done

    async def take(self, jobs: Sequence[Job], *, tx: Tx) -> set[str]:
        """Ack `jobs` inside `tx` before their handlers run there; return the ids whose leases
        this caller still held (only those are acked). Their rows stay locked until `tx` ends,
        so no other worker can claim them meanwhile; `untake` gives jobs back within `tx`.
        Inside `tx` a taken job already reads as done."""
        taken: set[str] = set()
        now = self.store.clock.time()
        for token, ids in self._ids_by_token(jobs).items():
            for chunk in chunks(ids):
                rows = await tx.fetchall(
                    f"{_ACK_IDS}({marks(len(chunk))}) RETURNING id", (now, token, *chunk)
                )
                taken.update(row["id"] for row in rows)
        return taken

    async def untake(self, jobs: Sequence[Job], *, tx: Tx) -> int:
        """Undo `take` for `jobs` within the same `tx`: pending again under their leases (so
        `nack` and `release` act on them as on any claimed job). Returns how many."""
        undone = 0
        for token, ids in self._ids_by_token(jobs).items():
            for chunk in chunks(ids):
                # Only this transaction can have changed these rows since its take: it holds them.
                undone += await tx.execute(
                    "UPDATE seawall_jobs SET state = 0, finished_at = NULL, lease_token = ? "
                    f"WHERE lease_token IS NULL AND id IN ({marks(len(chunk))})",
                    (token, *chunk),
                )
        return undone

    def _ids_by_token(self, jobs: Sequence[Job]) -> dict[str, list[str]]:
        by_token: dict[str, list[str]] = {}
        for job in jobs:
            by_token.setdefault(self._token(job), []).append(job.id)
        return by_token

    async def nack(
        self,
        job: Job,
        *,
        delay: float = 0.0,
        error: str | None = None,
        tb: str | None = None,
        tx: Tx | None = None,
    ) -> bool:
        """Give the job back (visible after `delay`), recording the error; at the receive limit
        it goes to the dead-letter queue at once. False when the lease was already lost."""
        if delay < 0:
            raise InvalidJobError(f"nack delay must be >= 0 (got {delay})")
        token = self._token(job)
        now = self.store.clock.time()
        errors = job.errors
        if error is not None or tb is not None:
            errors = ([*errors, error_record(now, error, tb)])[-self.max_errors :]
        dead = job.is_last_receive
        params = (
            _DEAD if dead else _PENDING,
            job.visible_at if dead else now + delay,
            now if dead else None,
            f"failed on receive {job.receives} of {job.max_receives}" if dead else None,
            json.dumps(errors, separators=(",", ":")),
            job.id,
            token,
        )
        async with self._tx(tx) as t:
            changed = await t.execute(_NACK, params)
            if changed and not dead:
                t.notify(NOTIFY_CHANNEL)
            hook = self._dead_hooks.get(job.queue) if changed and dead else None
            if hook is not None:
                await hook(t, [job], error or "failed on its last receive")
        return changed == 1

    async def extend(self, job: Job, seconds: float) -> bool:
        """Keep the lease for `seconds` more from now; False when the lease was already lost."""
        if seconds <= 0:
            raise InvalidJobError(f"extend needs seconds > 0 (got {seconds})")
        token = self._token(job)
        async with self.store.transaction() as tx:
            changed = await tx.execute(_EXTEND, (self.store.clock.time() + seconds, job.id, token))
        return changed == 1

    async def extend_many(self, jobs: Sequence[Job], seconds: float) -> int:
        """Extend many leases to `seconds` from now; return how many were still held."""
        if seconds <= 0:
            raise InvalidJobError(f"extend needs seconds > 0 (got {seconds})")
        by_token: dict[str, list[str]] = {}
        for job in jobs:
            by_token.setdefault(self._token(job), []).append(job.id)
        if not by_token:
            return 0
        extended = 0
        async with self.store.transaction() as tx:
            until = self.store.clock.time() + seconds
            for token, ids in by_token.items():
                for chunk in chunks(ids):
                    extended += await tx.execute(
                        "UPDATE seawall_jobs SET visible_at = ? "
                        f"WHERE lease_token = ? AND state = 0 AND id IN ({marks(len(chunk))})",
                        (until, token, *chunk),
                    )
        return extended

    async def start(
        self, jobs: Sequence[Job], *, visibility_timeout: float | None = None
    ) -> list[Job]:
        """Count one receive for each leased job whose handler is about to run, in one write
        that is durable before this returns; with `visibility_timeout`, their leases run that
        long from now (a job leased ahead gets its whole lease for its run). Returns the jobs
        still held by their lease, with their receive counts and leases as now stored; the
        rest were lost to another worker."""
        by_token: dict[str, list[str]] = {}
        for job in jobs:
            by_token.setdefault(self._token(job), []).append(job.id)
        if not by_token:
            return []
        started: dict[str, float] = {}
        async with self.store.transaction() as tx:
            now = self.store.clock.time()
            until = None if visibility_timeout is None else now + visibility_timeout
            for token, ids in by_token.items():
                for chunk in chunks(ids):
                    rows = await tx.fetchall(
                        f"{_START}({marks(len(chunk))}) RETURNING id, visible_at",
                        (until, token, *chunk),
                    )
                    started.update((row["id"], float(row["visible_at"])) for row in rows)
        return [
            replace(job, receives=job.receives + 1, visible_at=started[job.id])
            for job in jobs
            if job.id in started
        ]

    def start_statement(self, job: Job, *, visibility_timeout: float) -> tuple[Statement, Job]:
        """What `start` writes for one job, as a statement for a caller to send inside a
        transaction of its own (a commit block's, so the next job's start commits with the
        last one's ack), and the job as it reads once that transaction commits."""
        until = self.store.clock.time() + visibility_timeout
        statement = (f"{_START}(?)", (until, self._token(job), job.id))
        return statement, replace(job, receives=job.receives + 1, visible_at=until)

    async def release(self, jobs: Sequence[Job], *, counted: bool = True) -> int:
        """Hand back claimed jobs whose handlers never started: visible now, receive uncounted
        (`counted=False` for jobs leased ahead, whose receive was never counted)."""
        by_token: dict[str, list[str]] = {}
        for job in jobs:
            by_token.setdefault(self._token(job), []).append(job.id)
        released = 0
        if not by_token:
            return 0
        async with self.store.transaction() as tx:
            now = self.store.clock.time()
            for token, ids in by_token.items():
                for chunk in chunks(ids):
                    released += await tx.execute(
                        "UPDATE seawall_jobs SET lease_token = NULL, visible_at = ?"
                        + (
                            ", receives = CASE WHEN receives > 0 THEN receives - 1 ELSE 0 END "
                            if counted
                            else " "
                        )
                        + f"WHERE lease_token = ? AND state = 0 AND id IN ({marks(len(chunk))})",
                        (now, token, *chunk),
                    )
            if released:
                tx.notify(NOTIFY_CHANNEL)
        return released

    @staticmethod
    def _token(job: Job) -> str:
        if not job.lease_token:
            raise InvalidJobError(f"job {job.id} carries no lease token: claim it first")
        return job.lease_token
