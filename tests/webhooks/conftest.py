"""Fixtures for the webhook tests: a worker-side store, a router, and a served receiver."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from starlette.applications import Starlette

from seawall.jobs import Queue, Worker
from seawall.store import Store, open_store
from seawall.testing import FakeClock
from seawall.webhooks import Router, WebhookEndpoint, Webhooks, guide_endpoint
from tests.conftest import dispose
from tests.serving import serve_in_thread
from tests.webhooks.support import SECRET


@pytest.fixture
def router() -> Router:
    """A private router, so tests do not see each other's handlers."""
    return Router()


@pytest.fixture
def wclock() -> FakeClock:
    """The worker side's clock: ten minutes ahead of the real time (the server stamps jobs in real
    time, so they are all due), then moving only when a test advances it (no real sleeping)."""
    return FakeClock(start=time.time() + 600)


@pytest_asyncio.fixture
async def wstore(store_url: str, wclock: FakeClock) -> AsyncIterator[Store]:
    """The worker-side store (its own connections, like a separate worker process)."""
    opened = open_store(store_url, clock=wclock)
    await opened.migrate()
    yield opened
    await dispose(opened)


def served_app(store_url: str, endpoints: list[WebhookEndpoint], router: Router) -> Starlette:
    """A receiver app with its own store (opened and closed in the server's event loop)."""
    store = open_store(store_url)
    webhooks = Webhooks(store, endpoints, router=router)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await store.close()

    app = Starlette(routes=webhooks.routes(), lifespan=lifespan)
    app.state.webhooks = webhooks
    return app


@pytest.fixture
def make_server(store_url: str, router: Router, wstore: Store) -> Iterator[Any]:
    """`make_server(*endpoints) -> (base_url, app)`: serve endpoints for the rest of the test."""
    stack = contextlib.ExitStack()

    def make(*endpoints: WebhookEndpoint) -> tuple[str, Starlette]:
        app = served_app(store_url, list(endpoints), router)
        return stack.enter_context(serve_in_thread(app)), app

    with stack:
        yield make


@pytest.fixture
def guide_server(make_server: Any) -> tuple[str, Starlette]:
    """The guide's endpoint, served."""
    base, app = make_server(guide_endpoint([SECRET]))
    return base, app


@pytest.fixture
def worker_side(wstore: Store, router: Router, wclock: FakeClock) -> tuple[Webhooks, Worker]:
    """A Webhooks (no endpoints) and a Worker on the worker-side store, processing webhook jobs."""
    webhooks = Webhooks(wstore, router=router, queue=Queue(wstore, default_max_receives=3))
    worker = Worker(wstore, queue=webhooks.queue, clock=wclock, poll_interval=0.05)
    webhooks.attach(worker)
    return webhooks, worker
