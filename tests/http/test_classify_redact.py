"""Pure HTTP rules: transient statuses, Retry-After parsing, redaction of URLs and headers."""

from __future__ import annotations

import email.utils

import pytest

from seawall.http import (
    ApiTimeout,
    ClientError,
    ServerError,
    counts_as_breaker_failure,
    is_transient,
    parse_retry_after,
    redact_headers,
    redact_text,
    redact_url,
)
from seawall.http.classify import error_for_status, may_have_taken_effect

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "kind", "transient", "breaker", "unknown"),
    [
        (400, ClientError, False, False, False),
        (404, ClientError, False, False, False),
        (408, ClientError, True, False, True),
        (409, ClientError, False, False, True),
        (425, ClientError, True, False, True),
        (429, ClientError, True, False, True),
        (500, ServerError, True, True, True),
        (501, ServerError, False, False, False),
        (502, ServerError, True, True, True),
        (503, ServerError, True, True, True),
        (504, ServerError, True, True, True),
    ],
)
def test_status_classification(
    status: int, kind: type, transient: bool, breaker: bool, unknown: bool
) -> None:
    error = error_for_status(status, method="GET", url="u", body=b"x" * 2000, headers={}, now=NOW)
    assert type(error) is kind
    assert is_transient(error) is transient
    assert counts_as_breaker_failure(error) is breaker
    assert may_have_taken_effect(error) is unknown
    assert len(error.body_excerpt) == 512


def test_timeouts_are_transient_and_count_for_the_breaker() -> None:
    error = ApiTimeout("read timeout", method="GET", url="u")
    assert is_transient(error) and counts_as_breaker_failure(error)
    assert not is_transient(ValueError("x")) and not counts_as_breaker_failure(ValueError("x"))
    assert may_have_taken_effect(error) and may_have_taken_effect(ValueError("x"))


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(" 1.5 ", NOW) == 1.5
    assert parse_retry_after("-3", NOW) is None  # negative: no hint, the backoff decides
    assert parse_retry_after("nan", NOW) is None
    assert parse_retry_after("inf", NOW) == float("inf")  # the retry policy gives up on it
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert parse_retry_after(date, NOW) == pytest.approx(90.0)
    assert parse_retry_after(email.utils.formatdate(NOW - 90, usegmt=True), NOW) == 0.0
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("nan", NOW) is None
    headers = {"Retry-After": "7"}
    error = error_for_status(429, method="GET", url="u", body=b"", headers=headers, now=NOW)
    assert error.retry_after == 7.0
    error = error_for_status(404, method="GET", url="u", body=b"", headers=headers, now=NOW)
    assert error.retry_after is None


def test_redact_url_hides_secret_query_values_and_user_info() -> None:
    url = "https://bob:hunter2@api.example.com/v1/x?api_key=abc&page=2&access_token=t&Sig=s"
    redacted = redact_url(url)
    assert "hunter2" not in redacted and "abc" not in redacted and "=t" not in redacted
    assert "page=2" in redacted and redacted.startswith("https://***@api.example.com/v1/x?")
    assert "Sig=***" in redacted
    assert redact_url("https://api.example.com/plain") == "https://api.example.com/plain"
    assert redact_url("/path?token=abc") == "/path?token=***"


def test_redact_headers_and_text() -> None:
    headers = {
        "Authorization": "Bearer abc",
        "X-API-Key": "k",
        "X-Custom-Token": "t",
        "Accept": "application/json",
        "X-Tenant": "acme",
    }
    redacted = redact_headers(headers, extra_secret_names=["X-Tenant"])
    assert redacted == {
        "Authorization": "***",
        "X-API-Key": "***",
        "X-Custom-Token": "***",
        "Accept": "application/json",
        "X-Tenant": "***",
    }
    text = "failed GET https://h/x?key=zzz with Bearer abc.def and secret s3cr3t"
    cleaned = redact_text(text, secrets=["s3cr3t"])
    assert "zzz" not in cleaned and "abc.def" not in cleaned and "s3cr3t" not in cleaned


def test_parse_retry_after_takes_seconds_as_numbers_and_zoneless_dates_as_utc() -> None:
    assert parse_retry_after(7, NOW) == 7.0
    assert parse_retry_after(2.5, NOW) == 2.5
    assert parse_retry_after(float("nan"), NOW) is None
    assert parse_retry_after(-1, NOW) is None
    assert parse_retry_after(True, NOW) is None  # type: ignore[arg-type]
    assert parse_retry_after("", NOW) is None
    zoneless = email.utils.formatdate(NOW + 60, usegmt=True).replace("GMT", "-0000")
    assert parse_retry_after(zoneless, NOW) == pytest.approx(60.0)
