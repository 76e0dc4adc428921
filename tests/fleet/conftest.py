"""Fleet fixtures: a namespace per test and a backend (Redis, PostgreSQL or DynamoDB on a moto
server) per parameter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from seawall.fleet import (
    DynamoBreakerStore,
    DynamoLimits,
    LimitsStore,
    PostgresBreakerStore,
    PostgresLimits,
    RedisLimits,
    SharedBreakerStore,
)
from seawall.fleet.breaker_sync import SyncedBreakerStore
from seawall.fleet.dynamo_link import dynamo_client, ensure_fleet_table
from tests.conftest import require_postgres, unique_schema
from tests.fleet.prober_process import DYNAMO_TABLE

REDIS_URL = "redis://127.0.0.1:6379/0"
CLOSED_REDIS = "redis://127.0.0.1:1/0"
CLOSED_POSTGRES = "postgresql://postgres@127.0.0.1:1/test"
CLOSED_ENDPOINT = "http://127.0.0.1:1"


def redis_or_skip() -> Any:
    """The redis module, or skip when it or the server is missing."""
    redis = pytest.importorskip("redis", reason="needs redis-py (the redis extra)")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except Exception:
        pytest.skip("no Redis server at 127.0.0.1:6379")
    return redis


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A private PostgreSQL schema for this module's fleet tables, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    base = require_postgres()
    schema = unique_schema()
    yield f"{base}?schema={schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace no other test uses (its Redis keys are deleted afterwards)."""
    ns = f"test-{uuid.uuid4().hex}"
    yield ns
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
        keys = list(client.scan_iter(f"{ns}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    except Exception:
        pass


class Backend:
    """Builds stores of one kind (Redis, PostgreSQL or DynamoDB), reachable or not, and cuts one
    off from its server and back."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        closed = {"redis": CLOSED_REDIS, "postgres": CLOSED_POSTGRES, "dynamo": CLOSED_ENDPOINT}
        self.closed_url = closed[kind]
        # moto answers in this test process: under a loaded machine a call can take 0.2 s.
        self.timeout_s = 2.0 if kind == "dynamo" else 0.2

    def breakers(self, namespace: str, closed: bool = False, **kw: Any) -> SyncedBreakerStore:
        """A breaker store (syncing left to `sync_now()` unless `background=True`)."""
        kw.setdefault("background", False)
        kw.setdefault("timeout_s", self.timeout_s)
        url = self.closed_url if closed else self.url
        if self.kind == "redis":
            return SharedBreakerStore(url, namespace=namespace, **kw)
        if self.kind == "dynamo":
            return DynamoBreakerStore(DYNAMO_TABLE, endpoint_url=url, namespace=namespace, **kw)
        return PostgresBreakerStore(url, namespace=namespace, **kw)

    def limits(self, namespace: str, closed: bool = False, **kw: Any) -> LimitsStore:
        """A limits store."""
        kw.setdefault("timeout_s", self.timeout_s)
        url = self.closed_url if closed else self.url
        if self.kind == "redis":
            return RedisLimits(url, namespace=namespace, **kw)
        if self.kind == "dynamo":
            return DynamoLimits(DYNAMO_TABLE, endpoint_url=url, namespace=namespace, **kw)
        return PostgresLimits(url, namespace=namespace, **kw)

    def cut(self, store: Any) -> Any:
        """Point `store` at a closed port; returns what `restore` needs."""
        if self.kind == "redis":
            redis = redis_or_skip()
            good = store.client
            store.client = redis.Redis.from_url(self.closed_url, socket_connect_timeout=0.05)
            return good
        if self.kind == "dynamo":
            good = store.client
            store.client = dynamo_client(None, self.closed_url, 0.05)
            return good
        store.link.drop()
        good = store.link.conninfo
        store.link.conninfo = self.closed_url
        return good

    def kill_connection(self, store: Any) -> None:
        """End `store`'s server connection from the server side, as a restart would."""
        if self.kind == "redis":
            redis = redis_or_skip()
            client_id = store.client.client_id()
            with redis.Redis.from_url(REDIS_URL) as admin:
                assert admin.client_kill_filter(_id=client_id) == 1
            return
        if self.kind == "dynamo":
            pytest.skip("DynamoDB is plain HTTPS requests: there is no session to end")
        import psycopg

        pid = store.link.rows("SELECT pg_backend_pid()", ())[0][0]
        with psycopg.connect(self.url.split("?")[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    def restore(self, store: Any, saved: Any) -> None:
        """Point `store` back at its server."""
        if self.kind in ("redis", "dynamo"):
            store.client = saved
        else:
            store.link.conninfo = saved


@pytest.fixture(scope="session")
def dynamo_url(aws_endpoint: str) -> str:
    """The moto endpoint, with the fleet table the DynamoDB stores of these tests share."""
    client = dynamo_client(None, aws_endpoint, 5.0)
    ensure_fleet_table(client, DYNAMO_TABLE)
    client.close()
    return aws_endpoint


@pytest.fixture(params=["redis", "postgres", "dynamo"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each contract test runs on Redis, on PostgreSQL and on DynamoDB (a moto server)."""
    if request.param == "redis":
        redis_or_skip()
        return Backend("redis", REDIS_URL)
    if request.param == "dynamo":
        return Backend("dynamo", request.getfixturevalue("dynamo_url"))
    return Backend("postgres", request.getfixturevalue("pg_url"))
