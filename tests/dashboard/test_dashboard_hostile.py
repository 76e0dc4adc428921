"""The dashboard against hostile input: no 5xx, no open redirect, no framing, bounded logins."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from seawall.dashboard.auth import LoginThrottle, SessionSigner, same_text
from seawall.dashboard.gate import SECURITY_HEADERS
from seawall.store import open_store
from seawall.webhooks import Webhooks
from seawall.webhooks.schemes import get_scheme
from tests.dashboard.conftest import TOKEN, Dash, csrf_of, login
from tests.ops import seed

SLASHED_ID = "ord/2024/evt_1"
NON_ASCII = [
    "caf\u00e9",
    "\u00ff" * 40,
    "\u2603.\u2603.\u2603.\u2603",
    "v1.1.\u00e9.\u00e9",
    "\ud800",
]


def deliver(url: str, event_id: str) -> None:
    """Store one signed event with `event_id` through the real receiver."""

    async def go() -> None:
        store = open_store(url)
        try:
            webhooks = Webhooks.from_config(seed.webhook_config(url), store)
            body = json.dumps({"id": event_id, "type": "payment.completed"}).encode()
            headers = get_scheme("hmac-timestamp").sign(body, seed.SECRET)
            transport = httpx.ASGITransport(app=webhooks.asgi_app())
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                answer = await client.post(seed.PATH, content=body, headers=headers)
                assert answer.status_code == 200, answer.text
        finally:
            await store.close()

    asyncio.run(go())


def raw_cookie_get(client: TestClient, path: str, cookie: str) -> int:
    """GET with a Cookie header sent as raw UTF-8 bytes (what a hostile browser can send)."""
    client.cookies.clear()
    header = f"seawall_session={cookie}".encode("utf-8", "surrogatepass")
    return client.get(path, headers=[(b"cookie", header)], follow_redirects=False).status_code


@pytest.mark.parametrize("value", NON_ASCII)
def test_non_ascii_session_cookie_is_refused_not_500(dash: Dash, value: str) -> None:
    assert raw_cookie_get(dash.client, "/dashboard", value) == 303


@pytest.mark.parametrize("value", NON_ASCII[:3])
def test_non_ascii_csrf_fields_are_4xx(dash: Dash, value: str) -> None:
    form = dash.client.get("/dashboard/login")
    assert csrf_of(form.text)
    answer = dash.client.post("/dashboard/login", data={"token": TOKEN, "csrf": value})
    assert answer.status_code == 403
    login(dash.client)
    for path, data in (
        (f"/dashboard/events/{seed.SOURCE}/{dash.events[0]}/replay", {}),
        ("/dashboard/dlq/redrive", {"id": dash.dead[0]}),
        ("/dashboard/dlq/purge", {"id": dash.dead[0]}),
        ("/dashboard/dlq/purge", {"all": "1"}),
    ):
        answer = dash.client.post(path, data={**data, "csrf": value}, follow_redirects=False)
        assert answer.status_code == 403, (path, answer.status_code)


@pytest.mark.parametrize("offset", ["9" * 30, "-1", "abc", "1e9", "\u0663"])
def test_absurd_offsets_are_400(dash: Dash, offset: str) -> None:
    login(dash.client)
    for page in ("/dashboard/events", "/dashboard/dlq"):
        answer = dash.client.get(page, params={"offset": offset})
        assert answer.status_code == 400, (page, offset)


def test_event_ids_with_slashes_have_detail_and_replay(dash: Dash) -> None:
    deliver(dash.url, SLASHED_ID)
    login(dash.client)
    listing = dash.client.get("/dashboard/events")
    link = f"/dashboard/events/{seed.SOURCE}/{quote(SLASHED_ID, safe='')}"
    assert link in listing.text
    detail = dash.client.get(link)
    assert detail.status_code == 200 and SLASHED_ID in detail.text
    replay = dash.client.post(
        f"{link}/replay", data={"csrf": csrf_of(detail.text)}, follow_redirects=False
    )
    assert replay.status_code == 303 and "Replayed" in replay.headers["location"]


@pytest.mark.parametrize(
    "referer",
    [
        "https://evil.example/dashboard/dlq",
        "https://evil.example/phish",
        "//evil.example/dashboard",
        "/\\evil.example",
        "javascript:alert(1)",
    ],
)
def test_errors_redirect_only_inside_the_dashboard(dash: Dash, referer: str) -> None:
    login(dash.client)
    csrf = csrf_of(dash.client.get("/dashboard/dlq").text)
    answer = dash.client.post(
        "/dashboard/dlq/redrive",
        data={"csrf": csrf},  # neither an id nor "all": an operator error
        headers={"Referer": referer},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/dashboard") and not location.startswith("//")
    assert "evil" not in location.split("?")[0]


def test_every_answer_forbids_framing_sniffing_and_caching(dash: Dash) -> None:
    pages = [dash.client.get("/dashboard/login")]
    login(dash.client)
    pages += [
        dash.client.get(p)
        for p in (
            "/dashboard",
            "/dashboard/events",
            "/dashboard/dlq",
            f"/dashboard/events/{seed.SOURCE}/{dash.events[0]}",
        )
    ]
    for page in pages:
        assert page.status_code == 200
        for name, value in SECURITY_HEADERS.items():
            assert page.headers[name] == value


def test_failed_logins_are_limited_per_client(dash: Dash) -> None:
    statuses = [
        dash.client.get("/dashboard", headers={"Authorization": f"Bearer wrong-{n}"}).status_code
        for n in range(200)
    ]
    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}
    answer = dash.client.get("/dashboard", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1


def test_throttle_window_passes_with_the_clock() -> None:
    now = [1000.0]
    throttle = LoginThrottle(max_failures=3, window_s=60, now=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("a") == 0
        throttle.failed("a")
    assert throttle.retry_after("a") == pytest.approx(60)
    assert throttle.retry_after("b") == 0, "another client is not affected"
    now[0] += 61
    assert throttle.retry_after("a") == 0
    throttle.failed("a")
    throttle.succeeded("a")
    assert throttle.retry_after("a") == 0


def test_same_text_never_raises() -> None:
    assert same_text("caf\u00e9", "caf\u00e9")
    assert not same_text("abc", "\ud800")
    signer = SessionSigner(TOKEN)
    assert signer.session("v1.1.\ud800.x") is None
    assert not signer.token_matches("\u00e9\ud800")


text = st.text(st.characters(codec="utf-8"), max_size=80) | st.text(max_size=20)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(
        [
            "/dashboard",
            "/dashboard/events",
            "/dashboard/dlq",
            "/dashboard/events/payment-provider/x",
            "/dashboard/jobs/x",
        ]
    ),
    query=st.dictionaries(
        st.sampled_from(["offset", "status", "source", "type", "queue", "flash"]), text
    ),
    post=st.sampled_from(
        ["/dashboard/dlq/redrive", "/dashboard/dlq/purge", "/dashboard/login", "/dashboard/logout"]
    ),
    form=st.dictionaries(st.sampled_from(["csrf", "id", "all", "queue", "token"]), text),
)
def test_fuzzed_pages_and_actions_never_answer_5xx(
    dash: Dash,
    path: str,
    query: dict[str, str],
    post: str,
    form: dict[str, str],
) -> None:
    dash.client.cookies.clear()
    login(dash.client)
    before = dash.client.get("/dashboard/dlq").text.count('data-action="purge-')
    assert before == len(dash.dead) + 1  # one button per dead letter, and "purge all"
    page = dash.client.get(path, params=query, follow_redirects=False)
    assert page.status_code < 500, (path, query)
    body = "&".join(f"{quote(k)}={quote(v, errors='surrogatepass')}" for k, v in form.items())
    answer = dash.client.post(
        post,
        content=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code < 500, (post, form)
    dash.client.cookies.clear()
    login(dash.client)
    after = dash.client.get("/dashboard/dlq").text.count('data-action="purge-')
    assert after == before, "a request without the session's CSRF token changed nothing"
