"""Structured logs: JSON lines and key=value, context fields, LOG_LEVEL, secret redaction."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from seawall.observability.logging import configure_logging, get_context, log_context


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    out = io.StringIO()
    yield out
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    configure_logging("WARNING", stream=io.StringIO(), logger_name="seawall.test")


def test_json_lines_carry_context_fields(stream: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=stream, logger_name="seawall.test")
    log = logging.getLogger("seawall.test")
    with log_context(request_id="req-1", tenant="acme", source="stripe"):
        with log_context(event_id="evt_9", job_id="job-3"):
            log.info("handled", extra={"duration_ms": 12})
        log.info("outer")
    log.info("none")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["msg"] == "handled" and lines[0]["level"] == "info"
    assert {k: lines[0][k] for k in ("request_id", "tenant", "source", "event_id", "job_id")} == {
        "request_id": "req-1",
        "tenant": "acme",
        "source": "stripe",
        "event_id": "evt_9",
        "job_id": "job-3",
    }
    assert lines[0]["duration_ms"] == 12
    assert "event_id" not in lines[1] and lines[1]["tenant"] == "acme"
    assert "tenant" not in lines[2]


async def test_context_follows_tasks(stream: io.StringIO) -> None:
    async def worker(n: int) -> dict[str, object]:
        with log_context(job_id=f"job-{n}"):
            await asyncio.sleep(0)
            return get_context()

    seen = await asyncio.gather(*(worker(n) for n in range(3)))
    assert [s["job_id"] for s in seen] == ["job-0", "job-1", "job-2"]


def test_key_value_format(stream: io.StringIO) -> None:
    configure_logging("INFO", "text", stream=stream, logger_name="seawall.test")
    with log_context(source="github"):
        logging.getLogger("seawall.test").warning("rejected request", extra={"reason": "bad sig"})
    line = stream.getvalue().strip()
    assert 'msg="rejected request"' in line and "source=github" in line
    assert 'reason="bad sig"' in line and "level=warning" in line


def test_log_level_env_wins(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    configure_logging("DEBUG", stream=stream, logger_name="seawall.test")
    log = logging.getLogger("seawall.test")
    log.warning("hidden")
    log.error("shown")
    assert [json.loads(x)["msg"] for x in stream.getvalue().splitlines()] == ["shown"]
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging(stream=stream, logger_name="seawall.test")


def test_secrets_never_logged(stream: io.StringIO) -> None:
    redactor = configure_logging(
        "INFO", stream=stream, secrets=["whsec_topsecretvalue"], logger_name="seawall.test"
    )
    log = logging.getLogger("seawall.test")
    log.info("verifying with whsec_topsecretvalue and token=abc123 password: hunter2")
    log.info("connect %s", "postgresql://app:pa55word@db/prod", extra={"api_key": "k-1"})
    redactor.add_secret("late-secret-value")
    log.info("late-secret-value leaked?")
    text = stream.getvalue()
    for secret in (
        "whsec_topsecretvalue",
        "abc123",
        "hunter2",
        "pa55word",
        "k-1",
        "late-secret-value",
    ):
        assert secret not in text
    assert text.count("[REDACTED]") >= 6


def test_reconfiguring_does_not_duplicate_lines(stream: io.StringIO) -> None:
    configure_logging("INFO", stream=stream, logger_name="seawall.test")
    configure_logging("INFO", stream=stream, logger_name="seawall.test")
    logging.getLogger("seawall.test").info("once")
    assert len(stream.getvalue().splitlines()) == 1
