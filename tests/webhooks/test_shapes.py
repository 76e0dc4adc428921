"""Authentic deliveries of any shape over real HTTP on both engines: stored, acknowledged, routed.

Forms (Slack slash commands and interactivity, GitHub's form mode, Twilio), JSON that is not an
object, objects without a type and bodies that are not JSON at all are stored once and answered
200, then routed by the type found in them, else as `unhandled`. Forgeries are still refused and
store nothing; `strict` endpoints keep the 400s (see test_bad_input).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from seawall.config import load_config
from seawall.jobs import Worker
from seawall.store import Store, Tx
from seawall.webhooks import (
    UNHANDLED_TYPE,
    Router,
    WebhookEndpoint,
    WebhookEvent,
    Webhooks,
    get_event,
    guide_endpoint,
    list_events,
)
from seawall.webhooks.schemes import get_scheme
from seawall.webhooks.shape import read_document
from tests.webhooks.support import SECRET, count, guide_headers

URL = "/api/webhooks/payment-provider"
FORM = "application/x-www-form-urlencoded"
SLACK = get_scheme("slack")
GITHUB = get_scheme("github")


def derived(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def form_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """The guide's signature over a form body (as a provider signing its form would send it)."""
    return {**guide_headers(body, secret), "content-type": FORM}


async def post(base: str, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.post(path, content=body, headers=headers)


async def inbox_rows(store: Store) -> list[dict[str, Any]]:
    async with store.read() as tx:
        rows = await tx.fetchall(
            "SELECT event_id, event_type FROM seawall_webhook_inbox ORDER BY event_id"
        )
    return [dict(r) for r in rows]


def slack_endpoint(**overrides: Any) -> WebhookEndpoint:
    settings: dict[str, Any] = {
        "source": "slack",
        "path": "/hooks/slack",
        "scheme": SLACK,
        "secrets": [SECRET],
    }
    settings.update(overrides)
    return WebhookEndpoint(**settings)


def slack_headers(body: bytes) -> dict[str, str]:
    return {**SLACK.sign(body, SECRET, timestamp=time.time()), "content-type": FORM}


async def test_slack_interactivity_and_slash_command_forms_are_routed(
    make_server: Any, wstore: Store, worker_side: tuple[Webhooks, Worker], router: Router
) -> None:
    base, _ = make_server(slack_endpoint())
    seen: dict[str, Any] = {}

    @router.on("block_actions", source="slack")
    async def actions(event: WebhookEvent[Any], tx: Tx) -> None:
        seen["block_actions"] = event.payload

    @router.on("/weather", source="slack")
    async def weather(event: WebhookEvent[Any], tx: Tx) -> None:
        seen["/weather"] = event.payload

    interactive = urlencode(
        {"payload": '{"type":"block_actions","trigger_id":"13345.7","actions":[{"value":"ok"}]}'}
    ).encode()
    command = urlencode(
        {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": "T0001",
            "command": "/weather",
            "text": "94070 café",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    ).encode()
    for body in (interactive, command):
        resp = await post(base, "/hooks/slack", body, slack_headers(body))
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"received": True}
    assert await inbox_rows(wstore) == sorted(
        [
            {"event_id": derived(interactive), "event_type": "block_actions"},
            {"event_id": derived(command), "event_type": "/weather"},
        ],
        key=lambda r: r["event_id"],
    )
    await worker_side[1].run_until_idle()
    assert seen["block_actions"]["actions"] == [{"value": "ok"}]
    assert seen["/weather"]["text"] == "94070 café"
    assert {e.status for e in await list_events(wstore)} == {"processed"}


async def test_twilio_style_form_is_stored_as_unhandled_and_replayable(
    guide_server: Any, wstore: Store, worker_side: tuple[Webhooks, Worker], router: Router
) -> None:
    base, _ = guide_server
    webhooks, worker = worker_side
    anything: list[str] = []

    @router.on("*")
    async def catch_all(event: WebhookEvent[Any], tx: Tx) -> None:
        anything.append(event.type)  # `*` never sees the untyped deliveries

    body = (
        b"ToCountry=US&SmsSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&From=%2B15017122661"
        b"&Body=Hello+there%21&AccountSid=AC00000000000000000000000000000000&NumMedia=0"
    )
    resp = await post(base, URL, body, form_headers(body))
    assert resp.status_code == 200, resp.text
    stored = await get_event(wstore, "payment-provider", derived(body))
    assert stored.event_type == UNHANDLED_TYPE
    assert stored.body == body
    await worker.run_until_idle()
    assert (await get_event(wstore, "payment-provider", derived(body))).status == "unhandled"
    assert anything == []

    payloads: list[Any] = []

    @router.on(UNHANDLED_TYPE)
    async def fallback(event: WebhookEvent[Any], tx: Tx) -> None:
        payloads.append(event.payload)

    await webhooks.replay("payment-provider", derived(body))
    await worker.run_until_idle()
    assert (await get_event(wstore, "payment-provider", derived(body))).status == "processed"
    assert payloads[0]["From"] == "+15017122661"
    assert payloads[0]["Body"] == "Hello there!"


async def test_a_form_field_can_name_the_id(make_server: Any, wstore: Store) -> None:
    base, _ = make_server(guide_endpoint([SECRET], event_id_field="MessageSid"))
    body = b"MessageSid=SM0123&From=%2B15017122661&Body=hi"
    resp = await post(base, URL, body, form_headers(body))
    assert resp.status_code == 200, resp.text
    assert await inbox_rows(wstore) == [{"event_id": "SM0123", "event_type": UNHANDLED_TYPE}]


async def test_github_form_mode_uses_the_payload_field_and_headers(
    make_server: Any, wstore: Store, worker_side: tuple[Webhooks, Worker], router: Router
) -> None:
    endpoint = WebhookEndpoint(source="gh", path="/hooks/gh", scheme=GITHUB, secrets=[SECRET])
    base, _ = make_server(endpoint)
    refs: list[str] = []

    @router.on("push", source="gh")
    async def push(event: WebhookEvent[Any], tx: Tx) -> None:
        refs.append(event.payload["ref"])

    body = urlencode({"payload": '{"ref":"refs/heads/main","after":"abc"}'}).encode()
    headers = {
        **GITHUB.sign(
            body, SECRET, event_id="72d3162e-cc78-11e3-81ab-4c9367dc0958", event_type="push"
        ),
        "content-type": FORM,
    }
    resp = await post(base, "/hooks/gh", body, headers)
    assert resp.status_code == 200, resp.text
    assert await inbox_rows(wstore) == [
        {"event_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "event_type": "push"}
    ]
    await worker_side[1].run_until_idle()
    assert refs == ["refs/heads/main"]


@pytest.mark.parametrize(
    ("label", "body", "event_id", "payload"),
    [
        ("JSON array", b'[{"id":"evt_1","type":"payment.completed"}]', None, "same"),
        ("object without a type", b'{"id":"evt_nt","data":{"amount":1}}', "evt_nt", "same"),
        ("JSON string", b'"payment.completed"', None, "same"),
        ("invalid JSON", b'{"id": "evt_x", "type": ', None, None),
        ("invalid UTF-8", b'{"id": "\xff\xfe", "type": "t"}', None, None),
        ("plain text", b"hello, world", None, None),
        ("empty", b"", None, None),
        ("null id", b'{"id":null,"type":"payment.completed"}', None, "same"),
    ],
)
async def test_authentic_bodies_of_any_shape_are_stored_and_answered_200(
    label: str,
    body: bytes,
    event_id: str | None,
    payload: Any,
    guide_server: Any,
    wstore: Store,
    worker_side: tuple[Webhooks, Worker],
    router: Router,
) -> None:
    base, _ = guide_server
    seen: list[WebhookEvent[Any]] = []

    @router.on(UNHANDLED_TYPE)
    async def fallback(event: WebhookEvent[Any], tx: Tx) -> None:
        seen.append(event)

    @router.on("payment.completed")
    async def completed(event: WebhookEvent[Any], tx: Tx) -> None:
        seen.append(event)

    resp = await post(base, URL, body, guide_headers(body))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"received": True}
    expected_type = "payment.completed" if label == "null id" else UNHANDLED_TYPE
    [row] = await inbox_rows(wstore)
    assert row == {"event_id": event_id or derived(body), "event_type": expected_type}
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_jobs") == 1
    await worker_side[1].run_until_idle()
    assert len(seen) == 1
    assert seen[0].body == body
    assert seen[0].payload == (read_document(body, None) if payload == "same" else None)
    assert (await list_events(wstore))[0].status == "processed"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[1,2,3]", "application/json"),
        (b"command=%2Fdeploy&text=now", FORM),
        (b"not json at all", "text/plain"),
        (b"", "text/plain"),
    ],
)
async def test_the_same_body_twice_is_stored_once(
    body: bytes, content_type: str, guide_server: Any, wstore: Store
) -> None:
    base, app = guide_server
    first = await post(base, URL, body, {**guide_headers(body), "content-type": content_type})
    later = guide_headers(body, timestamp=time.time() + 1)
    second = await post(base, URL, body, {**later, "content-type": content_type})
    assert first.json() == {"received": True}
    assert second.status_code == 200
    assert second.json() == {"received": True, "duplicate": True}
    assert await inbox_rows(wstore) == [{"event_id": derived(body), "event_type": UNHANDLED_TYPE}]
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_jobs") == 1
    assert app.state.webhooks.stats.duplicates["payment-provider"] == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[1,2,3]", "application/json"),
        (b"payload=%7B%22type%22%3A%22block_actions%22%7D", FORM),
        (b"From=%2B15017122661&Body=hi", FORM),
        (b"\xff\xfe not json", "text/plain"),
    ],
)
@pytest.mark.parametrize("forgery", ["wrong secret", "tampered", "unsigned"])
async def test_a_forgery_of_any_shape_is_still_refused_and_stores_nothing(
    body: bytes, content_type: str, forgery: str, make_server: Any, wstore: Store
) -> None:
    base, app = make_server(guide_endpoint([SECRET], invalid_signature_status=401))
    if forgery == "wrong secret":
        headers, sent = guide_headers(body, secret="not-the-secret"), body
    elif forgery == "tampered":
        headers, sent = guide_headers(body), body + b"&Amount=1000"
    else:
        headers, sent = {}, body
    resp = await post(base, URL, sent, {**headers, "content-type": content_type})
    assert resp.status_code == 401, resp.text
    assert resp.json()["message"] == "Invalid webhook signature"
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 0
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_jobs") == 0
    assert sum(app.state.webhooks.stats.rejected.values()) == 1


async def test_the_guides_payload_still_routes_by_its_event_field(
    guide_server: Any, wstore: Store, worker_side: tuple[Webhooks, Worker], router: Router
) -> None:
    base, _ = guide_server
    seen: list[str] = []

    @router.on("payment.completed")
    async def completed(event: WebhookEvent[Any], tx: Tx) -> None:
        seen.append(event.payload["data"]["paymentId"])

    body = b'{"id":"evt_guide_2","event":"payment.completed","data":{"paymentId":"pay_2"}}'
    resp = await post(base, URL, body, guide_headers(body))
    assert resp.status_code == 200, resp.text
    assert await inbox_rows(wstore) == [
        {"event_id": "evt_guide_2", "event_type": "payment.completed"}
    ]
    await worker_side[1].run_until_idle()
    assert seen == ["pay_2"]


def test_strict_is_an_endpoint_option_in_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "seawall.toml"
    path.write_text(
        "[[webhooks]]\n"
        'source = "a"\npath = "/a"\nsecrets = ["literal:s3cret-value-0123"]\nstrict = true\n'
        "[[webhooks]]\n"
        'source = "b"\npath = "/b"\nsecrets = ["literal:s3cret-value-0123"]\n'
    )
    strict, default = (WebhookEndpoint.from_config(w) for w in load_config(path).webhooks)
    assert strict.strict is True
    assert default.strict is False


@pytest.mark.parametrize(
    ("body", "content_type", "document"),
    [
        (b'{"a":1}', FORM, {"a": 1}),  # JSON wins whatever the content type says
        (b"a=1&a=2&b=&c", FORM, {"a": ["1", "2"], "b": "", "c": ""}),
        (b"a=1&b=2", "Application/X-WWW-Form-Urlencoded; charset=utf-8", {"a": "1", "b": "2"}),
        (b"a=1&b=2", "text/plain", None),  # a form only when it says so
        (b"a=%ff", FORM, None),  # percent escapes must decode as UTF-8
        (b"a=%ed%a0%80", FORM, None),  # no lone surrogates
        (b"a=\xff", FORM, None),
        (b"payload=%5B1%5D&x=1", FORM, {"payload": "[1]", "x": "1"}),  # not an object
        (b"payload=%7B%22type%22%3A%22t%22%7D", FORM, {"type": "t"}),
        (b"&".join(b"f=1" for _ in range(1001)), FORM, None),  # over MAX_FORM_FIELDS
        (b"[" * 100_000 + b"]" * 100_000, "application/json", None),
    ],
)
def test_read_document(body: bytes, content_type: str, document: Any) -> None:
    assert read_document(body, content_type) == document
