"""Logs a person can follow: every failed try is one line with its facts (parsed from output)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from seawall.jobs import Job, Queue, Worker
from seawall.observability.logging import configure_logging
from seawall.resilience import Constant
from seawall.store import Store
from tests.observability.conftest import parsed


async def test_each_failed_try_is_logged_with_its_facts(
    store: Store, log_lines: io.StringIO
) -> None:
    queue = Queue(store, default_max_receives=2)
    worker = Worker(store, queue=queue, backoff=Constant(7.0))
    handler_log = logging.getLogger("seawall.app_under_test.handler")

    @worker.handler("mail", transactional=False)
    async def send(job: Job) -> None:
        handler_log.info("sending")
        raise ConnectionError("SMTP server said 421\nsecond line")

    job_id = await queue.enqueue("mail", {"source": "shop", "event_id": "evt_9"})
    await worker.run_until_idle()  # the first try; the second is 7 s away
    lines = parsed(log_lines)
    [first] = [r for r in lines if r.get("attempt") == 1 and r["level"] == "warning"]
    assert first["job_id"] == job_id and first["queue"] == "mail"
    assert first["event_id"] == "evt_9" and first["source"] == "shop"
    assert first["max_attempts"] == 2 and first["retry_in_s"] == 7.0
    assert "ConnectionError: SMTP server said 421" in str(first["msg"])
    assert "second line" not in str(first["msg"])
    [trace] = [r for r in lines if r["level"] == "debug" and "traceback" in str(r["msg"])]
    assert "Traceback" in str(trace["msg"])
    [said] = [r for r in lines if r["msg"] == "sending"]
    assert said["job_id"] == job_id and said["queue"] == "mail", "handler lines name the job"


def test_logs_go_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json", logger_name="seawall.stdout_test")
    try:
        logging.getLogger("seawall.stdout_test").warning("hello")
        out, err = capsys.readouterr()
    finally:
        logger = logging.getLogger("seawall.stdout_test")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
    assert json.loads(out.strip().splitlines()[-1])["msg"] == "hello"
    assert "hello" not in err
