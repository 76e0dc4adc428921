"""The receiver against hostile senders, over real sockets on both engines.

Unstorable ids never fail their neighbours (they fall back to the derived id, or are refused by a
strict endpoint), deep JSON is stored as unhandled (refused when strict), huge headers get a 4xx,
slow senders are cut off, and the guide's own payload (`event`, not `type`) is accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import time
from typing import Any

import httpx
import pytest

from seawall.store import Store
from seawall.webhooks import guide_endpoint
from tests.webhooks.support import SECRET, count, event_body, guide_headers

URL = "/api/webhooks/payment-provider"


def signed(body: bytes) -> dict[str, str]:
    return guide_headers(body)


@pytest.mark.parametrize(
    ("label", "doc", "reason"),
    [
        ("NUL in id", {"id": "evt\x00x", "type": "t"}, "invalid_event_id"),
        ("surrogate in id", {"id": "s\ud800", "type": "t"}, "invalid_event_id"),
        ("NUL in type", {"id": "e1", "type": "pay\x00ment"}, "invalid_event_type"),
        ("surrogate in type", {"id": "e2", "type": "\udfff"}, "invalid_event_type"),
    ],
)
async def test_unstorable_ids_and_types_are_400_when_strict(
    label: str, doc: dict[str, Any], reason: str, make_server: Any, wstore: Store
) -> None:
    base, _ = make_server(guide_endpoint([SECRET], strict=True))
    body = json.dumps(doc).encode()  # escapes: \u0000 and \ud800 are valid JSON text
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.post(URL, content=body, headers=signed(body))
    assert answer.status_code == 400, answer.text
    assert answer.json()["reason"] == reason
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 0


@pytest.mark.parametrize(
    ("doc", "event_id", "event_type"),
    [
        ({"id": "evt\x00x", "type": "t"}, None, "t"),
        ({"id": "s\ud800", "type": "t"}, None, "t"),
        ({"id": "e1", "type": "pay\x00ment"}, "e1", "unhandled"),
        ({"id": "e2", "type": "\udfff"}, "e2", "unhandled"),
    ],
)
async def test_unstorable_ids_and_types_fall_back_by_default(
    doc: dict[str, Any], event_id: str | None, event_type: str, guide_server: Any, wstore: Store
) -> None:
    """An authentic body is stored: under its derived id, or as unhandled, never with the text."""
    base, _ = guide_server
    body = json.dumps(doc).encode()
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.post(URL, content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text
    async with wstore.read() as tx:
        rows = await tx.fetchall("SELECT event_id, event_type FROM seawall_webhook_inbox")
    expected_id = event_id or "sha256:" + hashlib.sha256(body).hexdigest()
    assert rows == [{"event_id": expected_id, "event_type": event_type}]


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "default"])
async def test_one_unstorable_event_never_fails_its_neighbours(
    strict: bool, make_server: Any, wstore: Store
) -> None:
    base, _ = make_server(guide_endpoint([SECRET], strict=strict))
    bad = json.dumps({"id": "s\ud800", "type": "payment.completed"}).encode()
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for round_ in range(5):
            bodies = [event_body(f"evt_{round_}_{n}") for n in range(60)]
            answers = await asyncio.gather(
                client.post(URL, content=bad, headers=signed(bad)),
                *(client.post(URL, content=b, headers=signed(b)) for b in bodies),
            )
            assert answers[0].status_code == (400 if strict else 200)
            statuses += [a.status_code for a in answers[1:]]
    assert statuses == [200] * 300
    # By default the bad body is stored once, under the id derived from its bytes.
    stored = 300 if strict else 301
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == stored


async def test_deeply_nested_json_is_400_when_strict(make_server: Any, wstore: Store) -> None:
    base, _ = make_server(guide_endpoint([SECRET], strict=True))
    body = b'{"id":"deep","type":"t","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.post(URL, content=body, headers=signed(body))
    assert answer.status_code == 400
    assert answer.json()["reason"] == "json_too_deep"
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 0


async def test_deeply_nested_json_is_stored_as_unhandled(guide_server: Any, wstore: Store) -> None:
    base, _ = guide_server
    body = b'{"id":"deep","type":"t","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.post(URL, content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text
    async with wstore.read() as tx:
        rows = await tx.fetchall("SELECT event_id, event_type FROM seawall_webhook_inbox")
    derived = "sha256:" + hashlib.sha256(body).hexdigest()
    assert rows == [{"event_id": derived, "event_type": "unhandled"}]


async def test_an_8_mb_header_is_431_and_nothing_is_stored(
    guide_server: Any, wstore: Store
) -> None:
    base, _ = guide_server
    body = event_body("evt_big_header")
    headers = {**signed(body), "x-padding": "p" * 8_000_000}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        answer = await client.post(URL, content=body, headers=headers)
    assert answer.status_code == 431
    assert answer.json()["reason"] == "headers_too_large"
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 0


def test_a_slow_sender_is_cut_off(make_server: Any, wstore: Store) -> None:
    base, _ = make_server(guide_endpoint([SECRET], body_timeout_s=0.5))
    port = int(base.rsplit(":", 1)[1])
    body = event_body("evt_slow")
    head = "".join(f"{k}: {v}\r\n" for k, v in signed(body).items())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {URL} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n{head}\r\n".encode()
            + b"%x\r\n%s\r\n" % (10, body[:10])
        )  # ... and the rest never comes
        started = time.monotonic()
        received = b""
        while b'"reason"' not in received:  # the head and the body may come in two packets
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        answer = received.decode()
        waited = time.monotonic() - started
    assert answer.startswith("HTTP/1.1 408"), answer
    assert '"reason": "body_timeout"' in answer
    assert waited < 5


async def test_the_guides_exact_payload_is_accepted(guide_server: Any, wstore: Store) -> None:
    """The guide's provider sends `{id, event, data}` signed over `{timestamp}.{body}`."""
    base, _ = guide_server
    body = b'{"id":"evt_guide_1","event":"payment.completed","data":{"paymentId":"pay_1"}}'
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.post(
            URL,
            content=body,
            headers={**guide_headers(body), "content-type": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    async with wstore.read() as tx:
        row = await tx.fetchone(
            "SELECT event_type FROM seawall_webhook_inbox WHERE event_id = ?", ("evt_guide_1",)
        )
    assert row is not None and row["event_type"] == "payment.completed"


async def test_a_batch_broken_by_one_entry_is_written_one_by_one(
    guide_server: Any, wstore: Store
) -> None:
    """An entry the database itself refuses (here a constraint) costs only its own request."""
    async with wstore.transaction() as tx:
        if tx.engine == "postgresql":
            await tx.execute(
                "ALTER TABLE seawall_webhook_inbox "
                "ADD CONSTRAINT no_poison CHECK (event_id NOT LIKE 'poison%')"
            )
        else:
            await tx.execute(
                "CREATE TRIGGER no_poison BEFORE INSERT ON seawall_webhook_inbox "
                "WHEN NEW.event_id LIKE 'poison%' BEGIN SELECT RAISE(ABORT, 'poison'); END"
            )
    base, _ = guide_server
    statuses: list[int] = []
    poisoned: list[int] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for round_ in range(5):
            bad = event_body(f"poison_{round_}")
            bodies = [event_body(f"ok_{round_}_{n}") for n in range(60)]
            answers = await asyncio.gather(
                *(client.post(URL, content=b, headers=signed(b)) for b in bodies[:30]),
                client.post(URL, content=bad, headers=signed(bad)),
                *(client.post(URL, content=b, headers=signed(b)) for b in bodies[30:]),
            )
            poisoned.append(answers[30].status_code)
            statuses += [a.status_code for i, a in enumerate(answers) if i != 30]
    assert statuses == [200] * 300
    assert poisoned == [503] * 5
    assert await count(wstore, "SELECT COUNT(*) FROM seawall_webhook_inbox") == 300
