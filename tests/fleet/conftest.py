"""Fleet fixtures: a namespace per test and a backend (Redis or PostgreSQL) per parameter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import require_postgres, unique_schema

REDIS_URL = "redis://127.0.0.1:6379/0"
CLOSED_REDIS = "redis://127.0.0.1:1/0"
CLOSED_POSTGRES = "postgresql://postgres@127.0.0.1:1/test"


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
