"""PostgreSQL connection errors say the server's own reason, promptly."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from seawall.store import StoreUnavailableError, open_store
from tests.conftest import require_postgres


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"path": "/seawall_no_such_database"}, "does not exist"),
        ({"netloc": "postgres@127.0.0.1:1"}, "refused"),
        ({"netloc": "no_such_role@127.0.0.1:5432"}, "no_such_role"),
    ],
)
async def test_a_failed_connection_reports_why_at_once(change: dict[str, str], reason: str) -> None:
    url = urlunsplit(urlsplit(require_postgres())._replace(**change))
    store = open_store(url)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        await store.ping()
    await store.close()
    assert reason in str(caught.value)
    assert time.monotonic() - started < 3.0, "the reason must come without the pool's wait"
