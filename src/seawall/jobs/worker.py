"""The worker: claims jobs in batches, runs handlers with bounded concurrency, acks in batches.

A transactional handler gets the job and an open transaction; the worker acks the job in that same
transaction, guarded by the lease, so the handler's effects and the ack commit together or not at
all. When several jobs of a queue are waiting, up to `transaction_group` (64) of them run one after
another in one transaction, each inside its own savepoint (a failure or a lost lease rolls back
that job's effects only), so a whole group costs one commit. Its jobs are acked (guarded by their
leases) before the first handler runs, so inside that transaction a grouped job already reads as
done, and a failed one is given back before its nack. A queue whose handler is seen taking
AWAITING_S or longer (it awaits I/O) stops being grouped, so its transactions run side by side on
PostgreSQL, until `concurrency` runs in a row are quick again; `transaction_group=1` never groups.

Which shape holds a write lock across awaits: `handler(job, tx)` does, for the whole handler (on
SQLite the database's single write lock, so handlers that await I/O run one at a time; on
PostgreSQL a pooled connection and the job's row lock each). A commit-block handler
(`commit_block=True`, see `seawall.jobs.commit`) does its I/O with no transaction open and holds
the lock only inside `async with run.commit() as tx:`, so I/O-bound handlers run side by side on
both engines with their effects and ack still atomic. Use it for handlers that call other
services; keep `handler(job, tx)` for handlers that only touch the database (grouping makes them
cheapest).
Until a queue's handlers prove quick, its claims only lease: each job's receive is counted as
its handler starts, in one write for all the runners starting meanwhile, so jobs claimed ahead
and lost in a crash keep their attempts.
Other handlers run first and are acked afterwards, many at a time. A handler raising
`RetryLater(delay)` puts its job back; any other exception records the error and backs off.
Stopping (the `stop` event, or SIGTERM once `install_signal_handlers` ran) finishes running
handlers within the grace period and releases jobs that were claimed but not started.
Non-transactional handlers that run longer than a third of the visibility timeout have their
leases extended while they run (`extend_leases=True`), so a slow outside call is not handed to
a second worker; the extension follows real elapsed time.

The worker is split by job: claiming, runners and lifecycle here; transaction groups in
`worker_groups`; single runs, batches and batched acks in `worker_runs`; start counting and lease
extension in `worker_leases`; the routes, units, events and summaries in `work_units`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from seawall.clock import Clock
from seawall.jobs.backoff import Backoff, default_backoff
from seawall.jobs.commit import Successor
from seawall.jobs.commit_group import CommitGroups
from seawall.jobs.model import InvalidJobError, Job
from seawall.jobs.queue import NOTIFY_CHANNEL, Queue
from seawall.jobs.retention import Cleanup, run_retention
from seawall.jobs.work_units import AWAITING_S, Handler, Route, RunSummary, Unit, WorkerEvent
from seawall.jobs.worker_groups import run_group
from seawall.jobs.worker_leases import Seat, extend_long_runs, record_start, reserve_successor
from seawall.jobs.worker_runs import ack_flusher, flush_acks, run_batch, run_one
from seawall.observability.logging import reset_context, set_context
from seawall.store.base import Store

__all__ = ["Cleanup", "Handler", "RunSummary", "Worker", "WorkerEvent", "run_retention"]

log = logging.getLogger("seawall.jobs.worker")

F = TypeVar("F", bound=Handler)
LANE_RUNNERS = 16
"""On PostgreSQL, commit blocks get one group-commit lane per this many runners."""
CLAIMS_IN_FLIGHT = 2
"""A busy quick queue has its next claim sent while the one before it is still out."""


class Worker:
    """Processes jobs from one or more queues of a store (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        queue: Queue | None = None,
        concurrency: int = 16,
        batch_size: int = 32,
        visibility_timeout: float = 30.0,
        poll_interval: float = 1.0,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
        queues: list[str] | None = None,
        grace_period: float = 30.0,
        transaction_group: int = 64,
        extend_leases: bool = True,
        on_event: Callable[[WorkerEvent], None] | None = None,
    ) -> None:
        if concurrency < 1 or batch_size < 1:
            raise InvalidJobError("concurrency and batch_size must be >= 1")
        if visibility_timeout <= 0 or poll_interval <= 0 or grace_period < 0:
            raise InvalidJobError(
                "visibility_timeout and poll_interval must be > 0, grace_period >= 0"
            )
        self.store = store
        self.queue = queue or Queue(store)
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        self.poll_interval = poll_interval
        self.backoff = backoff or default_backoff()
        self.clock = clock or store.clock
        self.queues = list(queues) if queues is not None else None
        self.grace_period = grace_period
        self.transaction_group = max(1, transaction_group)
        self.extend_leases = extend_leases
        self.on_event = on_event
        self._blocks = (
            CommitGroups(store, lanes=max(1, concurrency // LANE_RUNNERS))
            if store.engine == "postgresql"
            else None
        )
        """Commit blocks share group transactions on PostgreSQL (SQLite's store already
        commits concurrent transactions together)."""
        self.processed = 0
        self.failed = 0
        self.retried = 0
        self.dead_lettered = 0
        self.lease_lost = 0
        self._routes: dict[str, Route] = {}
        self._units: deque[Unit] = deque()
        self._buffered_jobs = 0
        self._running_jobs = 0
        self._claiming = 0
        """Jobs asked for by claims still out (they count as held, see `_claim_round`)."""
        self._outside: dict[str, tuple[Job, float]] = {}
        self._work = asyncio.Event()
        self._space = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._uncounted: set[str] = set()
        """Ids of buffered jobs leased without a receive (counted by `_start` as they start)."""
        self._starting: list[tuple[list[Job], asyncio.Future[list[Job]]]] = []
        self._starter: asyncio.Task[None] | None = None
        self._acks: list[Job] = []
        self._ack_wake = asyncio.Event()
        self._ack_lock = asyncio.Lock()
        self._quick: dict[str, int] = {}
        """Consecutive handler runs per queue that took less than AWAITING_S. A queue with
        `concurrency` of them in a row keeps a batch claimed ahead of its runners; until then,
        and after any slow run, at most half its runners' worth (see `_claim_loop`)."""
        self._awaiting: set[str] = set()
        """Queues whose transactional handlers were seen waiting (AWAITING_S or longer): they
        are not grouped, so their transactions run side by side (on PostgreSQL), until
        `concurrency` of their runs in a row are quick again."""

    # -- registration ------------------------------------------------------------------------

    def register(
        self,
        queue_name: str,
        handler: Handler,
        *,
        transactional: bool = True,
        batch: bool = False,
        commit_block: bool = False,
    ) -> None:
        """Route `queue_name` to `handler`: `h(job, tx)` when transactional, else `h(job)`;
        with batch=True, `h(jobs[, tx]) -> BatchResult | None` gets a whole claimed batch;
        with commit_block=True, `h(run)` gets a JobRun whose `run.commit()` block commits the
        effects and the ack together (I/O before it runs with no transaction open)."""
        if commit_block and batch:
            raise InvalidJobError("commit_block handlers take one job at a time (batch=False)")
        if not isinstance(queue_name, str) or not queue_name:
            raise InvalidJobError(f"queue name must be a non-empty string (got {queue_name!r})")
        if queue_name in self._routes:
            raise InvalidJobError(f"queue {queue_name!r} already has a handler")
        if not callable(handler):
            raise InvalidJobError(f"handler for {queue_name!r} is not callable")
        self._routes[queue_name] = Route(
            handler, transactional and not commit_block, batch, commit_block
        )

    def handler(
        self,
        queue_name: str,
        *,
        transactional: bool = True,
        batch: bool = False,
        commit_block: bool = False,
    ) -> Callable[[F], F]:
        """Decorator form of `register`."""

        def decorate(fn: F) -> F:
            self.register(
                queue_name, fn, transactional=transactional, batch=batch, commit_block=commit_block
            )
            return fn

        return decorate

    def _queue_names(self) -> list[str]:
        names = self.queues if self.queues is not None else list(self._routes)
        missing = [name for name in names if name not in self._routes]
        if missing:
            raise InvalidJobError(f"no handler registered for queue(s) {missing}")
        if not names:
            raise InvalidJobError("register at least one handler before running the worker")
        return names

    # -- lifecycle ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask a running worker to stop gracefully."""
        self._stop_requested.set()
        self._work.set()
        self._space.set()

    def install_signal_handlers(self) -> None:
        """Stop gracefully on SIGTERM and SIGINT (call from inside the running event loop)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Process jobs until `stop` is set or `request_stop` is called."""
        await self._serve(stop, until_idle=False)

    async def run_until_idle(self) -> RunSummary:
        """Process until no ready job remains (delayed ones are left); return what it did.

        The summary is an int (the jobs processed, as before) carrying the other outcomes:
        `retried`, `failed`, `dead_lettered` and `lease_lost`.
        """
        before = self._tally()
        await self._serve(None, until_idle=True)
        after = self._tally()
        return RunSummary(*(a - b for a, b in zip(after, before, strict=True)))

    def _tally(self) -> tuple[int, int, int, int, int]:
        return (self.processed, self.retried, self.failed, self.dead_lettered, self.lease_lost)

    async def _serve(self, stop: asyncio.Event | None, *, until_idle: bool) -> None:
        names = self._queue_names()
        self._stop_requested.clear()
        stopper: asyncio.Task[None] | None = None
        if stop is not None:
            stopper = asyncio.create_task(self._watch_stop(stop))
        runners = [asyncio.create_task(self._runner()) for _ in range(self.concurrency)]
        flusher = asyncio.create_task(ack_flusher(self))
        heartbeat = asyncio.create_task(extend_long_runs(self)) if self.extend_leases else None
        try:
            await self._claim_loop(names, until_idle=until_idle)
        finally:
            await self._shutdown(runners, flusher)
            for task in (stopper, heartbeat):
                if task is not None:
                    task.cancel()

    async def _watch_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.request_stop()

    async def _shutdown(
        self, runners: list[asyncio.Task[None]], flusher: asyncio.Task[None]
    ) -> None:
        unstarted = [job for unit in self._units for job in unit.jobs]
        self._units.clear()
        # Jobs reserved by commit blocks still in flight stay counted until their runners run
        # or release them.
        self._buffered_jobs -= len(unstarted)
        self._stop_requested.set()
        self._work.set()
        if unstarted:
            try:
                ahead = [job for job in unstarted if job.id in self._uncounted]
                counted = [job for job in unstarted if job.id not in self._uncounted]
                released = await self.queue.release(ahead, counted=False)
                released += await self.queue.release(counted)
                self._emit("released", unstarted[0].queue, released)
            except Exception:
                log.exception(
                    "could not release %d unstarted jobs; their leases expire", len(unstarted)
                )
        _done, pending = await asyncio.wait(runners, timeout=self.grace_period)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                await task
        if pending:
            log.warning("%d handlers did not finish within the grace period", len(pending))
        await flush_acks(self)
        flusher.cancel()
        with contextlib.suppress(BaseException):
            await flusher

    # -- claiming ----------------------------------------------------------------------------

    async def _claim_loop(self, names: list[str], *, until_idle: bool) -> None:
        # Every queue keeps jobs claimed ahead of its runners, so a runner that frees up starts
        # the next job at once. Until a queue's handlers proved quick (see `_quick`), its claims
        # only lease, up to half the runners' worth: `_start` counts each receive as the
        # handler starts, so jobs buffered here and lost in a crash keep their attempts. A
        # quick queue keeps up to CLAIMS_IN_FLIGHT batches buffered or on their way, whose
        # claims count the receives (each job starts within milliseconds; a write per start
        # would cost more than such a handler). While the last claim found work, the next one
        # is sent before it returns; jobs a claim asks for count as held from the moment it is
        # sent, and claims still out when the worker stops are awaited so `_shutdown` releases
        # their jobs with the rest.
        full = self.concurrency + CLAIMS_IN_FLIGHT * self.batch_size
        ahead = max(1, min(self.batch_size, self.concurrency // 2))
        empty_rounds = 0
        busy = False
        rounds: set[asyncio.Task[int | None]] = set()
        try:
            while not self._stop_requested.is_set():
                done = [task for task in rounds if task.done()]
                rounds.difference_update(done)
                sent = [n for n in (task.result() for task in done) if n is not None]
                if sent:
                    busy = sum(sent) > 0
                    if busy:
                        empty_rounds = 0
                    elif not rounds:
                        if until_idle:
                            if self._buffered_jobs or self._running_jobs:
                                self._space.clear()
                                await self._space.wait()
                                continue
                            await flush_acks(self)
                            empty_rounds += 1
                            if empty_rounds >= 2:
                                return
                        else:
                            await self._idle_wait()
                if (not rounds or (busy and len(rounds) < CLAIMS_IN_FLIGHT)) and self._has_room(
                    names, full, ahead
                ):
                    rounds.add(asyncio.create_task(self._claim_round(names, full, ahead)))
                    continue
                self._space.clear()
                await self._space.wait()
        finally:
            await asyncio.gather(*rounds, return_exceptions=True)

    def _has_room(self, names: list[str], full: int, ahead: int) -> bool:
        """Whether the jobs held and asked for leave room for a claim (the low-water mark)."""
        quick = any(self._is_quick(name) for name in names)
        capacity = full if quick else self.concurrency + ahead
        low_water = max(1, (self.batch_size if quick else ahead) // 2)
        held = self._buffered_jobs + self._running_jobs + self._claiming
        return not held or capacity - held >= low_water

    async def _claim_round(self, names: list[str], full: int, ahead: int) -> int | None:
        """Claim from each queue in turn, as many jobs as there is room for when its claim is
        sent (reserved in `_claiming` while it is out); return how many were claimed, or None
        when no claim was sent (no room left by then)."""
        claimed: int | None = None
        for name in names:
            cap = full if self._is_quick(name) else self.concurrency + ahead
            held = self._buffered_jobs + self._running_jobs + self._claiming
            limit = min(self.batch_size, cap - held)
            if limit < 1 or self._stop_requested.is_set():
                break
            self._claiming += limit
            try:
                claimed = (claimed or 0) + await self._claim(name, limit)
            finally:
                self._claiming -= limit
                self._space.set()
        return claimed

    async def _claim(self, name: str, limit: int) -> int:
        quick = self._is_quick(name)
        try:
            jobs, dead = await self.queue.claim_counted(
                name,
                limit=limit,
                visibility_timeout=self.visibility_timeout,
                count_receive=quick,
            )
        except Exception:
            log.exception("claiming from queue %r failed; retrying after the poll interval", name)
            await asyncio.sleep(self.poll_interval)
            return 0
        if dead:
            self.dead_lettered += dead
            self._emit("dead_lettered", name, dead)
        if not jobs:
            return 0
        if not quick:
            self._uncounted.update(job.id for job in jobs)
        if self._routes[name].batch:
            self._units.append(Unit(name, jobs))
        else:
            self._units.extend(Unit(name, [job]) for job in jobs)
        self._buffered_jobs += len(jobs)
        self._work.set()
        return len(jobs)

    async def _idle_wait(self) -> None:
        waits = [
            asyncio.ensure_future(self.store.wait_for_notify(NOTIFY_CHANNEL, self.poll_interval)),
            asyncio.ensure_future(self._stop_requested.wait()),
        ]
        try:
            await asyncio.wait(
                waits, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waits:
                waiter.cancel()

    # -- running -----------------------------------------------------------------------------

    async def _runner(self) -> None:
        seat = Seat()
        successor = functools.partial(reserve_successor, self, seat)
        while True:
            started = False
            if seat.unit is not None:  # reserved by this runner's last commit block
                unit, started, seat.unit = seat.unit, seat.counted, None
                if not started:  # that block did not commit: the job goes back as it was
                    if self._stop_requested.is_set():
                        await self._release_reserved(unit)
                        return
                    self._units.appendleft(unit)
                    self._work.set()
                    continue
                # Its start is committed: it runs even while the worker stops.
            elif self._stop_requested.is_set():
                return
            elif not self._units:
                self._work.clear()
                await self._work.wait()
                continue
            else:
                unit = self._units.popleft()
            route = self._routes[unit.queue]
            if (
                route.transactional
                and not route.batch
                and self.transaction_group > 1
                and unit.queue not in self._awaiting
            ):
                jobs = list(unit.jobs)
                while (
                    self._units
                    and self._units[0].queue == unit.queue
                    and len(jobs) < self.transaction_group
                ):
                    jobs.extend(self._units.popleft().jobs)
                unit = Unit(unit.queue, jobs)
            count = len(unit.jobs)
            self._buffered_jobs -= count
            # A group holds one runner: its jobs run one after another within AWAITING_S (the
            # rest come back as buffered), so they leave room for the next claim at once.
            slots = 1 if route.transactional and not route.batch else count
            self._running_jobs += slots
            if slots < count:
                self._space.set()
            try:
                await self._run_unit(unit, successor, started=started)
            finally:
                self._running_jobs -= slots
                self._space.set()

    async def _release_reserved(self, unit: Unit) -> None:
        """Hand back a job reserved for a runner whose start never committed (the worker is
        stopping, and `_shutdown` released the buffer without it)."""
        self._buffered_jobs -= len(unit.jobs)
        try:
            await self.queue.release(unit.jobs, counted=False)
        except Exception:
            log.exception("could not release job %s; its lease expires", unit.jobs[0].id)

    async def _run_unit(
        self, unit: Unit, successor: Successor | None = None, *, started: bool = False
    ) -> None:
        route = self._routes[unit.queue]
        fresh = unit.jobs
        if not started:
            now = self.clock.time()
            fresh = [job for job in unit.jobs if job.visible_at > now]
            if len(fresh) < len(unit.jobs):
                lost = len(unit.jobs) - len(fresh)
                self.lease_lost += lost
                self._emit("lease_lost", unit.queue, lost)
                self._uncounted.difference_update(j.id for j in unit.jobs if j.visible_at <= now)
            if fresh:
                fresh = await record_start(self, unit.queue, fresh)
        if not fresh:
            return
        if route.transactional:
            if route.batch:
                await run_batch(self, route, unit.queue, fresh)
            elif len(fresh) > 1:
                await run_group(self, route, fresh)
            else:
                await run_one(self, route, fresh[0])
            return
        since = asyncio.get_running_loop().time()
        for job in fresh:
            self._outside[job.id] = (job, since)
        try:
            if route.batch:
                await run_batch(self, route, unit.queue, fresh)
            else:
                await run_one(self, route, fresh[0], successor)
        finally:
            for job in fresh:
                self._outside.pop(job.id, None)

    def _is_quick(self, queue_name: str) -> bool:
        return self._quick.get(queue_name, 0) >= self.concurrency

    def _note(self, queue_name: str, started: float) -> None:
        """Count a quick handler run, or mark a queue whose handler took AWAITING_S or more:
        fewer of its jobs are then claimed ahead, and its transactional jobs stop being grouped
        (so they run side by side on PostgreSQL) until `concurrency` runs in a row are quick."""
        if time.perf_counter() - started < AWAITING_S:
            quick = self._quick[queue_name] = self._quick.get(queue_name, 0) + 1
            if quick == self.concurrency and queue_name in self._awaiting:
                # A pause of the whole process (a garbage collection, a busy machine) looks
                # like a wait too: a queue whose handlers proved quick again is grouped again.
                self._awaiting.discard(queue_name)
                log.info("handlers of queue %r are quick again: grouping resumes", queue_name)
            return
        self._quick[queue_name] = 0
        if queue_name not in self._awaiting:
            self._awaiting.add(queue_name)
            log.info(
                "handlers of queue %r take %.0f ms or more: claiming fewer of its jobs ahead "
                "and running transactional ones one job per transaction, side by side "
                "(a commit-block handler avoids holding a transaction while it waits)",
                queue_name,
                AWAITING_S * 1000,
            )

    def _count(self, kind: str, job: Job, error: str | None) -> None:
        if kind == "processed":
            self.processed += 1
        elif kind == "lease_lost":
            self.lease_lost += 1
        elif kind == "dead_lettered":
            self.dead_lettered += 1
        elif kind == "retried":
            self.retried += 1
        else:
            self.failed += 1
        self._emit(kind, job.queue, 1, job.id, error)

    async def _timed(self, call: Awaitable[Any], job: Job, started: float) -> Any:
        """Await one handler call, note a slow one, and report its duration to `on_event`."""
        error: str | None = None
        # Every line a handler logs names its job (and, for webhooks, processing adds the
        # source and event id).
        token = set_context({"job_id": job.id, "queue": job.queue})
        try:
            return await call
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            reset_context(token)
            self._note(job.queue, started)
            if self.on_event is not None:
                elapsed = time.perf_counter() - started
                try:
                    self.on_event(WorkerEvent("timed", job.queue, 1, job.id, error, elapsed))
                except Exception:
                    log.exception("on_event callback failed")

    def _emit(
        self,
        kind: str,
        queue: str,
        count: int,
        job_id: str | None = None,
        error: str | None = None,
    ) -> None:
        if self.on_event is None or count <= 0:
            return
        try:
            self.on_event(WorkerEvent(kind, queue, count, job_id, error))
        except Exception:
            log.exception("on_event callback failed")
