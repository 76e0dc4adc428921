"""Shared fixtures: engines for the contract suites, and the PostgreSQL reachability rule."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

POSTGRES_URL = os.environ.get(
    "SEAWALL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("SEAWALL_REQUIRE_POSTGRES") == "1"


def postgres_reachable() -> bool:
    """True when a TCP connection to the test PostgreSQL server succeeds."""
    parsed = urlparse(POSTGRES_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 1.0):
            return True
    except OSError:
        return False


def require_postgres() -> str:
    """Return the test PostgreSQL URL, or skip (fail in CI) when the server is unreachable."""
    if postgres_reachable():
        return POSTGRES_URL
    reason = f"PostgreSQL unreachable at {POSTGRES_URL}; start it or set SEAWALL_TEST_POSTGRES_URL"
    if REQUIRE_POSTGRES:
        pytest.fail(reason + " (SEAWALL_REQUIRE_POSTGRES=1 makes this a failure)")
    pytest.skip(reason)


# -- stores -------------------------------------------------------------------------------------

import uuid  # noqa: E402
from collections.abc import AsyncIterator, Callable  # noqa: E402

import pytest_asyncio  # noqa: E402

from seawall.store import Store, open_store  # noqa: E402
from seawall.testing import FakeClock  # noqa: E402


def unique_schema() -> str:
    """A PostgreSQL schema name no other test run uses."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A fresh store URL for each engine: a SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    base = require_postgres()
    return f"{base}?schema={unique_schema()}"


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for tests whose time matters."""
    return FakeClock()


@pytest_asyncio.fixture
async def store(store_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    """A migrated store on each engine, with a fake clock; dropped afterwards."""
    opened = open_store(store_url, clock=clock)
    await opened.migrate()
    yield opened
    await dispose(opened)


async def dispose(store: Store) -> None:
    """Drop a PostgreSQL test schema (if any) and close the store."""
    drop: Callable[[], object] | None = getattr(store, "drop_schema", None)
    if drop is not None and store.engine == "postgresql":
        await drop()  # type: ignore[misc]
    else:
        await store.close()


# -- AWS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aws_endpoint() -> object:
    """The URL of a moto server (a real AWS API endpoint on 127.0.0.1) started for this run."""
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    from seawall.aws.local import local_aws

    with local_aws() as url:
        yield url
