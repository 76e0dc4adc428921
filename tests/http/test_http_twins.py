"""`seawall.with_retry`: the guide's twin with its HTTP meaning (4xx permanent except 429,
Retry-After as seconds or an HTTP date), built on the pure core by injection."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

import seawall
from seawall.http import with_retry
from seawall.http.classify import permanent_client_error, retry_after_from, status_of
from seawall.testing import FakeClock


class HttpError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = headers or {}


class Response:
    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.headers = headers or {}


class WrappedError(Exception):
    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.response = Response(status_code, headers)


def failing(errors: list[Exception], value: str = "ok"):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return value

    return fn, calls


def test_the_top_level_name_is_the_http_twin() -> None:
    assert seawall.with_retry is with_retry


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


def test_429_retry_after_from_the_response_headers() -> None:
    clock = FakeClock()
    fn, _ = failing([WrappedError(429, {"retry-after": "4"})])
    assert with_retry(fn, base_delay_ms=10, clock=clock) == "ok"
    assert clock.slept == [4.0]


def test_429_retry_after_as_http_date() -> None:
    clock = FakeClock(start=1_700_000_000.0)
    when = format_datetime(datetime.fromtimestamp(1_700_000_012, UTC), usegmt=True)
    fn, _ = failing([HttpError(429, {"Retry-After": when})])
    assert with_retry(fn, base_delay_ms=10, clock=clock) == "ok"
    assert clock.slept == [pytest.approx(12.0)]


def test_a_date_in_the_retry_after_attribute_is_read_too() -> None:
    clock = FakeClock(start=1_700_000_000.0)
    error = HttpError(503)
    error.retry_after = format_datetime(  # type: ignore[attr-defined]
        datetime.fromtimestamp(1_700_000_005, UTC), usegmt=True
    )
    fn, _ = failing([error])
    assert with_retry(fn, base_delay_ms=10, clock=clock) == "ok"
    assert clock.slept == [pytest.approx(5.0)]


def test_the_clock_of_each_call_reads_the_date() -> None:
    when = format_datetime(datetime.fromtimestamp(1_700_000_030, UTC), usegmt=True)
    for start, wait in ((1_700_000_000.0, 30.0), (1_700_000_020.0, 10.0)):
        clock = FakeClock(start=start)
        fn, _ = failing([HttpError(429, {"Retry-After": when})])
        assert with_retry(fn, base_delay_ms=10, clock=clock) == "ok"
        assert clock.slept == [pytest.approx(wait)]


async def test_async_429_then_success_logs_the_guide_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    errors: list[Exception] = [WrappedError(429, {"Retry-After": "2"})]

    async def fn() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    logger = logging.getLogger("test.http_twin")
    with caplog.at_level(logging.WARNING, logger="test.http_twin"):
        assert await with_retry(fn, logger=logger, clock=clock) == "done"
    assert [r.getMessage() for r in caplog.records] == [
        "Attempt 1/3 failed, retrying in 2000ms: HTTP 429"
    ]


def test_the_http_rules_read_by_duck_typing() -> None:
    assert status_of(HttpError(418)) == 418
    assert status_of(WrappedError(502)) == 502
    assert status_of(ValueError()) is None
    bogus = ValueError()
    bogus.status = True  # type: ignore[attr-defined]
    assert status_of(bogus) is None
    assert permanent_client_error(HttpError(404))
    assert not permanent_client_error(HttpError(429))
    assert not permanent_client_error(HttpError(500))
    assert not permanent_client_error(TimeoutError())
    assert retry_after_from(HttpError(503, {"Retry-After": "nan"}), 0.0) is None
    assert retry_after_from(HttpError(503, {"Retry-After": "-1"}), 0.0) is None
    assert retry_after_from(HttpError(503), 0.0) is None
