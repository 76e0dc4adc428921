"""The guide's twins: with_retry (with the 429 difference) and gather_settled."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from seawall.resilience import gather_settled, with_retry
from seawall.testing import FakeClock


class HttpError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = headers or {}


class Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class WrappedError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.response = Response(status_code)


def failing(errors: list[Exception], value: str = "ok"):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return value

    return fn, calls


def test_max_retries_counts_total_attempts_like_the_guide() -> None:
    clock = FakeClock()
    fn, calls = failing([HttpError(503)] * 5)
    with pytest.raises(HttpError):
        with_retry(fn, max_retries=3, base_delay_ms=100, clock=clock)
    assert calls["n"] == 3
    assert len(clock.slept) == 2
    # full jitter: each wait is within [0, base * 2**(n-1)]
    assert 0 <= clock.slept[0] <= 0.1 and 0 <= clock.slept[1] <= 0.2


@pytest.mark.parametrize("error", [HttpError(404), WrappedError(400), HttpError(422)])
def test_client_errors_are_not_retried(error: Exception) -> None:
    fn, calls = failing([error])
    with pytest.raises(type(error)):
        with_retry(fn, clock=FakeClock())
    assert calls["n"] == 1


def test_429_is_retried_after_its_retry_after_seconds() -> None:
    clock = FakeClock()
    fn, calls = failing([HttpError(429, {"Retry-After": "7"})])
    assert with_retry(fn, base_delay_ms=10, clock=clock) == "ok"
    assert calls["n"] == 2
    assert clock.slept == [7.0]


def test_429_retry_after_as_http_date() -> None:
    clock = FakeClock(start=1_700_000_000.0)
    when = format_datetime(datetime.fromtimestamp(1_700_000_012, UTC), usegmt=True)
    fn, _ = failing([HttpError(429, {"Retry-After": when})])
    assert with_retry(fn, base_delay_ms=10, clock=clock) == "ok"
    assert clock.slept == [pytest.approx(12.0)]


async def test_async_functions_get_an_awaitable_and_the_logger_is_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    errors: list[Exception] = [WrappedError(502)]

    async def fn() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    logger = logging.getLogger("test.with_retry")
    with caplog.at_level(logging.WARNING, logger="test.with_retry"):
        assert await with_retry(fn, logger=logger, clock=clock) == "done"
    assert "Attempt 1 failed, retrying in" in caplog.text


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="total attempts"):
        with_retry(lambda: None, max_retries=0)


async def test_gather_settled_collects_partial_failures_and_logs_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def ok(x: int) -> int:
        return x

    async def bad(msg: str) -> int:
        raise RuntimeError(msg)

    logger = logging.getLogger("test.settled")
    with caplog.at_level(logging.ERROR, logger="test.settled"):
        settled = await gather_settled(ok(1), bad("a"), lambda: ok(3), bad("b"), logger=logger)
    assert settled.values == [1, 3]
    assert [str(e) for e in settled.errors] == ["a", "b"]
    assert [o.index for o in settled.outcomes if not o.ok] == [1, 3]
    assert not settled.all_ok
    assert caplog.text.count("failed") == 2


async def test_gather_settled_limit_bounds_concurrency() -> None:
    running = 0
    peak = 0

    async def job(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return i

    settled = await gather_settled(*(lambda i=i: job(i) for i in range(50)), limit=4)
    assert settled.values == list(range(50))
    assert peak == 4
    with pytest.raises(ValueError, match="limit"):
        await gather_settled(limit=0)
