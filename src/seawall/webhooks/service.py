"""`Webhooks`: endpoints, handlers, storage and replay for inbound webhooks, in one object.

    webhooks = Webhooks(store, [guide_endpoint(["env:WEBHOOK_SECRET"])])

    @webhooks.on("payment.completed")
    async def completed(event: WebhookEvent, tx: Tx) -> None: ...

    app = Starlette(routes=webhooks.routes())      # or webhooks.asgi_app()
    webhooks.attach(worker)                        # the worker runs the handlers

Handlers modules named in the configuration register on the module-level router with
`from seawall.webhooks import on`; `Webhooks.from_config` imports them and uses that router.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from seawall.config import SeawallConfig
from seawall.jobs.model import Job
from seawall.jobs.queue import Queue
from seawall.store import Store, Tx
from seawall.webhooks import inbox
from seawall.webhooks.commit_block import io_queue_name, make_commit_block_processor
from seawall.webhooks.endpoint import WebhookEndpoint
from seawall.webhooks.events import EventNotFoundError
from seawall.webhooks.ingest import Ingestor
from seawall.webhooks.job_payload import event_job, event_of_job
from seawall.webhooks.processing import QUEUE_NAME, make_processor
from seawall.webhooks.receiver import Receiver, WebhookStats
from seawall.webhooks.router import H, Router, default_router

__all__ = ["Webhooks"]


class _Registers(Protocol):
    def register(
        self,
        queue_name: str,
        handler: Any,
        *,
        transactional: bool = ...,
        commit_block: bool = ...,
    ) -> Any: ...


class Webhooks:
    """Inbound webhook endpoints on one store, with their router and processing job handler."""

    def __init__(
        self,
        store: Store,
        endpoints: Sequence[WebhookEndpoint] = (),
        *,
        router: Router | None = None,
        queue: Queue | None = None,
        queue_name: str = QUEUE_NAME,
    ) -> None:
        self.store = store
        self.router = router if router is not None else Router()
        self.queue = queue if queue is not None else Queue(store)
        self.queue_name = queue_name
        self.io_queue_name = io_queue_name(queue_name)
        """Where events with a commit-block handler are processed (see `webhooks.commit_block`)."""
        self.stats = WebhookStats()
        self._ingestor = Ingestor(store, self.queue, queue_name, queue_for=self._queue_for)
        self.queue.on_dead_letter(queue_name, self._dead_lettered)
        self.queue.on_dead_letter(self.io_queue_name, self._dead_lettered)
        self._endpoints: dict[str, WebhookEndpoint] = {}
        for endpoint in endpoints:
            self.add_endpoint(endpoint)

    async def _dead_lettered(self, tx: Tx, jobs: list[Job], reason: str) -> None:
        """The queue moved processing jobs to its dead-letter queue: their events are dead too,
        so one dead-letter view (events with status `dead`) shows every webhook given up on."""
        await inbox.mark_dead(
            tx,
            [(*event_of_job(j.payload), j.id, j.receives) for j in jobs],
            reason,
            self.store.clock.time(),
        )

    @classmethod
    def from_config(
        cls, config: SeawallConfig, store: Store, *, router: Router | None = None
    ) -> Webhooks:
        """Endpoints from the `[[webhooks]]` entries; each entry's `handlers` module is imported
        (registering on `router`, by default the module-level one behind `seawall.webhooks.on`)."""
        for entry in config.webhooks:
            if entry.handlers:
                importlib.import_module(entry.handlers)
        endpoints = [WebhookEndpoint.from_config(entry) for entry in config.webhooks]
        return cls(
            store,
            endpoints,
            router=router if router is not None else default_router,
            queue=Queue(store, default_max_receives=config.worker.max_receives),
        )

    # -- endpoints and handlers ---------------------------------------------------------------

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Serve another endpoint; sources and paths must be unique."""
        if endpoint.source in self._endpoints:
            raise ValueError(f"webhook source {endpoint.source!r} is already served")
        if any(e.path == endpoint.path for e in self._endpoints.values()):
            raise ValueError(f"webhook path {endpoint.path!r} is already served")
        self._endpoints[endpoint.source] = endpoint

    @property
    def endpoints(self) -> list[WebhookEndpoint]:
        """The endpoints served, in the order added."""
        return list(self._endpoints.values())

    def on(
        self,
        pattern: str,
        *,
        source: str | None = None,
        model: type[Any] | None = None,
        commit_block: bool = False,
    ) -> Callable[[H], H]:
        """Decorator registering a handler on this instance's router (see `Router.on`)."""
        return self.router.on(pattern, source=source, model=model, commit_block=commit_block)

    # -- ASGI -----------------------------------------------------------------------------------

    def receivers(self) -> dict[str, Receiver]:
        """One ASGI receiver per endpoint, by path (each answers every request it is given)."""
        return {
            e.path: Receiver(e, self._ingestor, self.stats, self.store.clock)
            for e in self._endpoints.values()
        }

    def routes(self, receivers: Mapping[str, Receiver] | None = None) -> list[BaseRoute]:
        """Starlette routes, one POST route per endpoint, for any Starlette or FastAPI app."""
        found = self.receivers() if receivers is None else receivers
        return [
            Route(e.path, found[e.path], methods=["POST"], name=f"webhook:{e.source}")
            for e in self._endpoints.values()
        ]

    def asgi_app(self) -> Starlette:
        """A Starlette app serving just the endpoints."""
        return Starlette(routes=self.routes())

    # -- processing -----------------------------------------------------------------------------

    def processor(self) -> Callable[[Job, Tx], Any]:
        """The transactional job handler for this instance's queue."""
        return make_processor(self.router, clock_time=self.store.clock.time)

    def attach(self, worker: _Registers) -> None:
        """Register the processing handlers on `worker`: transactional ones (effects commit with
        the ack), and commit-block ones on the `.io` queue (I/O first, then one short commit)."""
        worker.register(self.queue_name, self.processor(), transactional=True)
        worker.register(
            self.io_queue_name,
            make_commit_block_processor(self.router, self.store, clock_time=self.store.clock.time),
            commit_block=True,
        )

    def _queue_for(self, source: str, event_type: str) -> str:
        """The processing queue of an event: `.io` when a commit-block handler answers it."""
        if self.router.needs_commit_block(source, event_type):
            return self.io_queue_name
        return self.queue_name

    async def replay(self, source: str, event_id: str) -> str:
        """Process a stored event again: status back to `received`, a new job; return its id."""
        async with self.store.transaction() as tx:
            row = await inbox.load_row(tx, source, event_id)
            if row is None or not await inbox.reset_for_replay(tx, source, event_id):
                raise EventNotFoundError(source, event_id)
            job_id = await self.queue.enqueue(
                self._queue_for(source, str(row["event_type"])),
                event_job(source, event_id),
                tx=tx,
                max_receives=self._max_receives(source),
            )
            assert job_id is not None  # no dedup key, so the queue always enqueues
            await inbox.set_job_ids(tx, [(job_id, source, event_id)])
        return job_id

    async def cleanup(self, older_than_s: float) -> int:
        """Delete `processed` and `unhandled` events received more than `older_than_s` ago.

        Refuses (ValueError) an `older_than_s` below twice the largest endpoint `tolerance_s`: the
        id dedup must outlive the replay window in both directions (see
        `inbox.check_retention`). Events still to process, failed or dead are never deleted.
        """
        inbox.check_retention(older_than_s, (e.tolerance_s for e in self._endpoints.values()))
        return await inbox.purge_events(self.store, older_than_s=older_than_s)

    def _max_receives(self, source: str) -> int | None:
        endpoint = self._endpoints.get(source)
        return endpoint.max_receives if endpoint is not None else None
