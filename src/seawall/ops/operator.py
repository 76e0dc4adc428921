"""The operator view of one store: queues, dead letters, events, breakers (for CLI and dashboard).

Every method is async and talks to the shared stores through the `Inbox` and `JobQueue`
protocols, so the CLI on a laptop and the dashboard see the same thing on SQLite, PostgreSQL and
AWS (`seawall.ops.stores` opens either). Replaying an event needs the webhook layer: the service
passes its `Webhooks.replay`, the CLI builds one from the configuration, and on AWS the
deployment sends the event to its queue.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from seawall.jobs.api import JobQueue
from seawall.jobs.model import DeadLetter, InvalidJobError, Job, QueueStats
from seawall.jobs.queue import Queue
from seawall.ops.breakers import REGISTRY, BreakerInfo, BreakerRegistry, list_shared
from seawall.ops.errors import NotFoundError, OperatorError
from seawall.store import Store
from seawall.store.text import storable_text
from seawall.webhooks.inbox import StoredEvent
from seawall.webhooks.inbox_backend import Inbox, SqlInbox

__all__ = ["Operator", "Overview", "ReplayFn", "check_schema"]

ReplayFn = Callable[[str, str], Awaitable[Any] | Any]
"""`replay(source, event_id)`: enqueue an event's processing again."""


@dataclass(frozen=True, slots=True)
class Overview:
    """The numbers the dashboard's overview and `jobs stats` show."""

    queues: list[QueueStats]
    ready: int
    in_flight: int
    delayed: int
    dead: int
    breakers: list[BreakerInfo]


async def check_schema(store: Store) -> None:
    """Raise OperatorError unless the database is reachable and fully migrated."""
    await store.ping()
    have, known = await store.schema_status()
    if have < known:
        raise OperatorError(
            f"the database at {store.url} is at schema version {have}, this seawall needs "
            f"{known}; run `seawall migrate --store {store.url}` first"
        )


class Operator:
    """Operator actions over an inbox and a job queue (SQL tables, or DynamoDB and SQS).

    `store` is the SQL store when there is one: the shared breakers, per-minute figures and the
    cleanups read it; on the AWS store those answer OperatorError saying what AWS does instead.
    """

    def __init__(
        self,
        inbox: Inbox,
        queue: JobQueue,
        *,
        store: Store | None = None,
        registry: BreakerRegistry = REGISTRY,
        replay: ReplayFn | None = None,
    ) -> None:
        self.inbox = inbox
        self.queue = queue
        self._store = store
        self.registry = registry
        self._replay = replay

    @classmethod
    def over_sql(
        cls,
        store: Store,
        *,
        registry: BreakerRegistry = REGISTRY,
        replay: ReplayFn | None = None,
        queue: Queue | None = None,
    ) -> Operator:
        """The operator of a SQLite or PostgreSQL store."""
        return cls(
            SqlInbox(store),
            queue if queue is not None else Queue(store),
            store=store,
            registry=registry,
            replay=replay,
        )

    @property
    def sql_store(self) -> Store | None:
        """The SQL store, or None on the AWS store."""
        return self._store

    @property
    def store(self) -> Store:
        """The SQL store; OperatorError on the AWS store (which has none)."""
        if self._store is None:
            raise OperatorError(
                "this needs a SQLite or PostgreSQL store; on the AWS store DynamoDB's TTL expires "
                "old events, SQS deletes finished jobs, and breakers live in each process"
            )
        return self._store

    # -- queues and dead letters ---------------------------------------------------------------

    async def overview(self) -> Overview:
        """Queue totals and breaker states (local breakers first, then those others published)."""
        stats = await self.queue.stats()
        return Overview(
            queues=stats,
            ready=sum(s.ready for s in stats),
            in_flight=sum(s.in_flight for s in stats),
            delayed=sum(s.delayed for s in stats),
            dead=sum(s.dead for s in stats),
            breakers=await self.breakers(),
        )

    async def dead_letters(
        self, queue_name: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[DeadLetter]:
        """Dead letters, newest first."""
        try:
            return await self.queue.dead_letters(queue_name, limit=limit, offset=offset)
        except InvalidJobError as exc:
            raise OperatorError(str(exc)) from None

    async def dead_letter(self, job_id: str) -> DeadLetter:
        """One dead letter; NotFoundError when the job is not in the dead-letter queue."""
        found = await self.queue.dead_letter(job_id) if storable_text(job_id) else None
        if found is None:
            raise NotFoundError(
                f"job {job_id} is not in the dead-letter queue (see `seawall dlq list`)"
            )
        return found

    async def job(self, job_id: str) -> Job | None:
        """The job with this id, or None (on SQS only dead letters can be looked up)."""
        return await self.queue.get_job(job_id) if storable_text(job_id) else None

    async def cleanup_jobs(self, older_than_s: float) -> int:
        """Delete done jobs finished more than `older_than_s` ago (SQL stores only)."""
        return await Queue(self.store).cleanup(older_than_s)

    async def redrive(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue_name: str | None = None,
        rate_per_s: float | None = None,
    ) -> int:
        """Send dead letters back to their queues; returns how many moved."""
        try:
            return await self.queue.redrive(
                list(ids) if ids is not None else None,
                queue_name=queue_name,
                rate_per_s=rate_per_s,
            )
        except InvalidJobError as exc:
            raise OperatorError(str(exc)) from None

    async def purge(
        self, ids: Sequence[str] | None = None, *, queue_name: str | None = None
    ) -> int:
        """Delete dead letters; returns how many were deleted."""
        try:
            return await self.queue.purge_dead_letters(
                queue_name, list(ids) if ids is not None else None
            )
        except InvalidJobError as exc:
            raise OperatorError(str(exc)) from None

    # -- webhook events --------------------------------------------------------------------------

    async def events(
        self,
        *,
        source: str | None = None,
        type: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[StoredEvent]:
        """Stored webhook events, newest first (no bodies)."""
        try:
            return await self.inbox.list_events(
                source=source, type=type, status=status, limit=limit, offset=offset
            )
        except ValueError as exc:
            raise OperatorError(str(exc)) from None

    async def event(self, source: str, event_id: str) -> StoredEvent:
        """One stored event with its body and headers; NotFoundError when absent."""
        try:
            if storable_text(source) and storable_text(event_id):
                return await self.inbox.get_event(source, event_id)
        except LookupError:
            pass
        raise NotFoundError(
            f"no event {event_id!r} from source {source!r} (see `seawall events list`)"
        )

    async def replay(self, source: str, event_id: str) -> Any:
        """Process a stored event again."""
        await self.event(source, event_id)
        if self._replay is None:
            raise OperatorError(
                "replaying needs the webhook endpoints: pass --config with the [[webhooks]] tables"
            )
        result = self._replay(source, event_id)
        if inspect.isawaitable(result):
            result = await result
        return result

    # -- breakers --------------------------------------------------------------------------------

    async def breakers(self) -> list[BreakerInfo]:
        """Breakers of this process, then the ones other processes published to the SQL store."""
        local = self.registry.snapshot()
        if self._store is None:
            return local
        seen = {(b.name, b.instance) for b in local}
        shared = [b for b in await list_shared(self._store) if (b.name, b.instance) not in seen]
        return [*local, *shared]
