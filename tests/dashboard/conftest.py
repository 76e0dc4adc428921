"""A real service app (SQLite store, dashboard on) driven through Starlette's TestClient."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from seawall.observability.metrics import SeawallMetrics
from seawall.ops.breakers import BreakerRegistry
from seawall.service.assemble import build_service
from seawall.store import open_store
from tests.ops import seed

TOKEN = "dash-admin-token-123"


@dataclass
class Dash:
    """The client, the store URL and the seeded ids."""

    client: TestClient
    url: str
    dead: list[str]
    events: list[str]


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, token: str = TOKEN) -> None:
    """Log in through the form (double-submit cookie included)."""
    form = client.get("/dashboard/login")
    answer = client.post(
        "/dashboard/login",
        data={"token": token, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


@pytest.fixture
def dash(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dash]:
    """The service on each engine, no in-process worker, two dead letters and three events."""
    url = store_url

    async def fill() -> tuple[list[str], list[str]]:
        store = open_store(url)
        try:
            await store.migrate()
            return await seed.dead_letters(store, 2), await seed.events(store, 3)
        finally:
            await store.close()

    dead, events = asyncio.run(fill())
    monkeypatch.setenv("SEAWALL_TEST_DASH_TOKEN", TOKEN)
    config = seed.webhook_config(url, dashboard={"token": "env:SEAWALL_TEST_DASH_TOKEN"})
    app = build_service(
        config, with_worker=False, metrics=SeawallMetrics(), registry=BreakerRegistry()
    )
    with TestClient(app, base_url="http://testserver") as client:
        yield Dash(client, url, dead, events)
    asyncio.run(_drop(url))


async def _drop(url: str) -> None:
    """Drop a PostgreSQL test schema (a SQLite file goes with its temporary folder)."""
    store = open_store(url)
    drop = getattr(store, "drop_schema", None)
    if drop is not None and store.engine == "postgresql":
        await drop()
    else:
        await store.close()
