"""Logs and metrics of outbound calls: one record per call and attempt, and no secret in any."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from seawall.http import (
    ApiClient,
    ApiKeyAuth,
    BearerAuth,
    CallRecord,
    ClientError,
    ServerError,
    SyncApiClient,
)
from seawall.resilience import gather_settled
from seawall.secrets import SecretError
from seawall.testing import FakeClock, FakeProvider, FaultPlan, RouteFaults

TOKEN = "tok_live_5f3a9c1e2b7d4e8f"
API_KEY = "key_9b8c7d6e5f4a3b2c"
QUERY_SECRET = "qs_1a2b3c4d5e6f7a8b"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets live in the environment, referenced as env:NAME."""
    monkeypatch.setenv("GATEWAY_TOKEN", TOKEN)
    monkeypatch.setenv("GATEWAY_KEY", API_KEY)


def assert_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    """No secret in any message, argument or extra field of any captured record."""
    assert caplog.records, "expected log records"
    for record in caplog.records:
        text = f"{record.getMessage()} {record.__dict__!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += repr(record.exc_info[1]) + str(record.exc_info[1])
        for secret in (TOKEN, API_KEY, QUERY_SECRET):
            assert secret not in text, f"secret leaked in {record.name}: {text[:300]}"
    assert TOKEN not in caplog.text and API_KEY not in caplog.text
    assert QUERY_SECRET not in caplog.text


@pytest.mark.usefixtures("secret_env")
async def test_async_client_logs_each_attempt_and_call_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    plan = FaultPlan(seed=3, routes={"GET /resources/{id}": RouteFaults(status_503=1.0)})
    calls: list[CallRecord] = []
    async with FakeProvider(plan) as provider:
        host = provider.url.removeprefix("http://")
        async with ApiClient(
            provider.url,
            auth=BearerAuth("env:GATEWAY_TOKEN"),
            headers={"X-API-Key": API_KEY},
            clock=FakeClock(),
            breaker=None,
            on_call=[calls.append],
        ) as client:
            with pytest.raises(ServerError) as info:
                await client.get("/resources/r1", params={"api_key": QUERY_SECRET, "q": "x"})
            created = await client.post(
                "/resources", json={"n": 1}, params={"token": QUERY_SECRET}, idempotency_key="c1"
            )
            with pytest.raises(ClientError):
                await client.post("/v1/payments", json={}, params={"access_token": QUERY_SECRET})
            await gather_settled(
                client.get(f"http://127.0.0.1:1/x?api_key={QUERY_SECRET}"),
                logger=logging.getLogger("app"),
            )
    assert created.status_code == 201 and QUERY_SECRET not in created.url
    assert QUERY_SECRET not in str(info.value) and "api_key=***&q=x" in str(info.value)
    assert_no_secret(caplog)

    attempts = [r for r in caplog.records if getattr(r, "event", None) == "http.attempt"]
    finished = [r for r in caplog.records if getattr(r, "event", None) == "http.call"]
    assert len(finished) == 4 and len(calls) == 4
    assert [r.attempt for r in attempts[:3]] == [1, 2, 3]  # type: ignore[attr-defined]
    first = finished[0]
    assert (first.method, first.status, first.outcome) == ("GET", 503, "server_error")  # type: ignore[attr-defined]
    assert first.attempt == 3 and first.duration_ms >= 0  # type: ignore[attr-defined]
    assert finished[1].idempotency_key == "c1" and finished[1].outcome == "ok"  # type: ignore[attr-defined]
    assert calls[0].host == host and calls[3].host == "127.0.0.1:1"
    assert [c.outcome for c in calls] == ["server_error", "ok", "client_error", "connection_error"]


@pytest.mark.usefixtures("secret_env")
def test_sync_client_logs_without_secrets_even_from_urllib3(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        FakeProvider() as provider,
        SyncApiClient(
            provider.url, auth=ApiKeyAuth("X-API-Key", "env:GATEWAY_KEY"), clock=FakeClock()
        ) as client,
    ):
        with pytest.raises(ClientError):
            client.get("/resources/missing", params={"apikey": QUERY_SECRET})
        assert client.post_json("/resources", {"a": 1}, params={"secret": QUERY_SECRET})
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert_no_secret(caplog)


def test_auth_helpers_resolve_references_and_never_print_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_TOKEN", TOKEN)
    secret_file = tmp_path / "key"
    secret_file.write_text(API_KEY + "\n")
    bearer = BearerAuth("env:GATEWAY_TOKEN")
    api_key = ApiKeyAuth("X-Key", f"file:{secret_file}")
    assert bearer.headers == {"Authorization": f"Bearer {TOKEN}"}
    assert api_key.headers == {"X-Key": API_KEY}
    assert TOKEN not in repr(bearer) and API_KEY not in repr(api_key)
    monkeypatch.delenv("GATEWAY_TOKEN")
    with pytest.raises(SecretError, match="GATEWAY_TOKEN"):
        BearerAuth("env:GATEWAY_TOKEN")
    with pytest.raises(ValueError, match="header"):
        ApiKeyAuth("Bad Header", f"file:{secret_file}")
