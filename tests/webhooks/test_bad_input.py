"""Bad input over real HTTP: always a 4xx with a reason, never a 5xx, and nothing stored.

Authentic bodies of an unexpected shape are not bad input (they are stored, see test_shapes);
only an endpoint configured `strict` refuses them, which the shape cases here check.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.store import Store
from seawall.webhooks import guide_endpoint
from tests.webhooks.support import SECRET, count, event_body, guide_headers

URL = "/api/webhooks/payment-provider"
NOW = time.time


def signed(body: bytes, **changes: str | None) -> dict[str, str]:
    """Valid guide headers for `body`, then `changes` applied (None removes a header)."""
    headers = guide_headers(body)
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return headers


def wrong_secret(body: bytes) -> dict[str, str]:
    return guide_headers(body, secret="another-secret")


GOOD = event_body("evt_hand")
BIG = b'{"id":"evt_big","type":"t","pad":"' + b"x" * (10 * 1024 * 1024) + b'"}'

HAND_CASES: list[tuple[str, bytes, Any, int, str]] = [
    ("no signature", GOOD, lambda b: signed(b, x_signature=None), 400, "missing_header"),
    ("no timestamp", GOOD, lambda b: signed(b, x_timestamp=None), 400, "missing_header"),
    ("no headers", GOOD, lambda b: {}, 400, "missing_header"),
    ("short signature", GOOD, lambda b: signed(b, x_signature="abc123"), 400, "malformed_header"),
    ("non-hex signature", GOOD, lambda b: signed(b, x_signature="z" * 64), 400, "bad_signature"),
    ("wrong secret", GOOD, wrong_secret, 400, "bad_signature"),
    (
        "stale",
        GOOD,
        lambda b: guide_headers(b, timestamp=NOW() - 301 - 5),
        400,
        "stale_timestamp",
    ),
    (
        "future",
        GOOD,
        lambda b: guide_headers(b, timestamp=NOW() + 301 + 5),
        400,
        "future_timestamp",
    ),
    ("text timestamp", GOOD, lambda b: signed(b, x_timestamp="abc"), 400, "invalid_timestamp"),
    ("float timestamp", GOOD, lambda b: signed(b, x_timestamp="1.5e9"), 400, "invalid_timestamp"),
    ("negative timestamp", GOOD, lambda b: signed(b, x_timestamp="-5"), 400, "invalid_timestamp"),
    ("empty timestamp", GOOD, lambda b: signed(b, x_timestamp=""), 400, "invalid_timestamp"),
    ("empty body, unsigned", b"", lambda b: {}, 400, "empty_body"),
    ("empty body, wrong secret", b"", wrong_secret, 400, "empty_body"),
    ("10 MB body", BIG, guide_headers, 413, "body_too_large"),
    (
        "long signature header",
        GOOD,
        lambda b: signed(b, x_signature="a" * 9_000),
        400,
        "malformed_header",
    ),
    (
        "huge signature header",
        GOOD,
        lambda b: signed(b, x_signature="a" * 20_000),
        431,
        "headers_too_large",
    ),
    (
        "large unrelated headers",
        GOOD,
        lambda b: {**wrong_secret(b), **{f"x-junk-{i}": "j" * 1000 for i in range(12)}},
        400,
        "bad_signature",
    ),
    (
        "huge unrelated headers",
        GOOD,
        lambda b: {**wrong_secret(b), **{f"x-junk-{i}": "j" * 4000 for i in range(16)}},
        431,
        "headers_too_large",
    ),
]


SHAPE_CASES: list[tuple[str, bytes, str]] = [
    ("empty body", b"", "empty_body"),
    ("invalid JSON", b'{"id": "x", "type": ', "invalid_json"),
    ("invalid UTF-8", b'{"id": "\xff\xfe", "type": "t"}', "invalid_utf8"),
    ("JSON array", b'[{"id": "x"}]', "invalid_json"),
    ("no type", b'{"id": "evt_nt"}', "missing_event_type"),
    ("object id", b'{"id": {"a": 1}, "type": "t"}', "invalid_event_id"),
    ("empty id", b'{"id": "", "type": "t"}', "invalid_event_id"),
    ("numeric type", b'{"id": "i", "type": 7}', "invalid_event_type"),
    ("form", b"command=%2Fweather&text=94070", "invalid_json"),
]
"""Authentic bodies of an unexpected shape: stored by default (see test_shapes), 400 when strict."""


@pytest.mark.parametrize(
    ("label", "body", "make_headers", "status", "reason"),
    HAND_CASES,
    ids=[c[0] for c in HAND_CASES],
)
async def test_hand_cases(
    label: str,
    body: bytes,
    make_headers: Any,
    status: int,
    reason: str,
    guide_server: Any,
    wstore: Store,
) -> None:
    base, app = guide_server
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        resp = await client.post(URL, content=body, headers=make_headers(body))
    assert resp.status_code == status, resp.text
    assert resp.json()["reason"] == reason
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 0
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_jobs") == 0
    assert app.state.webhooks.stats.rejected[("payment-provider", reason)] == 1


@pytest.mark.parametrize(("label", "body", "reason"), SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
async def test_strict_endpoint_refuses_authentic_bodies_of_another_shape(
    label: str, body: bytes, reason: str, make_server: Any, wstore: Store
) -> None:
    base, app = make_server(guide_endpoint([SECRET], strict=True))
    headers = guide_headers(body)
    if label == "form":
        headers["content-type"] = "application/x-www-form-urlencoded"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        resp = await client.post(URL, content=body, headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["reason"] == reason
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 0
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_jobs") == 0
    assert app.state.webhooks.stats.rejected[("payment-provider", reason)] == 1


async def test_streamed_body_over_the_limit_without_length(
    guide_server: Any, wstore: Store
) -> None:
    base, _ = guide_server

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        resp = await client.post(URL, content=chunks(), headers=guide_headers(b"x"))
    assert resp.status_code == 413
    assert resp.json()["reason"] == "body_too_large"


async def test_get_is_405(guide_server: Any) -> None:
    base, _ = guide_server
    async with httpx.AsyncClient(base_url=base) as client:
        resp = await client.get(URL)
    assert resp.status_code == 405


HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80
).map(str.strip)
"""Printable header text (HTTP clients refuse leading or trailing blanks in header values)."""


@st.composite
def bad_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A request that must fail: random or mis-signed headers, random or tampered bodies."""
    body = draw(
        st.one_of(
            st.binary(max_size=300),
            st.builds(lambda i, t: event_body(i, t), HEADER_TEXT, HEADER_TEXT),
        )
    )
    kind = draw(st.sampled_from(["random", "wrong_secret", "tampered", "skewed"]))
    if kind == "random":
        headers = {}
        for name in ("x-signature", "x-timestamp"):
            if draw(st.booleans()):
                headers[name] = draw(HEADER_TEXT)
    elif kind == "wrong_secret":
        headers = guide_headers(body, secret=draw(HEADER_TEXT.filter(lambda s: s != SECRET)) or "w")
    elif kind == "tampered":
        headers = guide_headers(body)
        body = body + draw(st.binary(min_size=1, max_size=20))
    else:
        skew = draw(st.one_of(st.floats(302, 1e6), st.floats(-1e6, -302)))
        headers = guide_headers(body, timestamp=max(0.0, NOW() + skew))
    return body, headers


async def test_fuzzed_requests_are_always_4xx_and_store_nothing(
    guide_server: Any, wstore: Store
) -> None:
    base, _ = guide_server
    with httpx.Client(base_url=base, timeout=10) as client:

        @settings(max_examples=120, deadline=None)
        @given(request=bad_requests())
        def check(request: tuple[bytes, dict[str, str]]) -> None:
            body, headers = request
            resp = client.post(URL, content=body, headers=headers)
            assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
            assert resp.json()["reason"]

        check()
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 0
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_jobs") == 0
