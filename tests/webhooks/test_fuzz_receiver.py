"""A bounded fuzz run over the receiver with every scheme: any input, no 5xx, nothing forged stored.

Each example picks a scheme, a body (random bytes, or JSON with hostile ids and types), signs it
with the endpoint's secret or not, and maybe changes one byte or one header after signing. The
receiver must answer below 500, and store the request only when it was signed and left intact.
`SEAWALL_FUZZ_EXAMPLES=5000 pytest tests/webhooks/test_fuzz_receiver.py` runs a longer campaign.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from seawall.store import open_store
from seawall.webhooks import WebhookEndpoint, Webhooks
from seawall.webhooks.schemes import SCHEMES, get_scheme

SECRETS = {"standard-webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
"""Secrets in the form a scheme needs; the others take any text."""
EXAMPLES = int(os.environ.get("SEAWALL_FUZZ_EXAMPLES", "300"))
OPTIONS: dict[str, dict[str, Any]] = {"generic-hmac": {"header": "x-sig"}}

hostile_text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", "\x00", "\ud800", "a" * 300, "../../etc", "<script>", "\u202e", "evt/1"]
)
json_body = st.fixed_dictionaries(
    {},
    optional={
        "id": hostile_text | st.integers() | st.none() | st.booleans(),
        "type": hostile_text | st.integers() | st.none(),
        "event": hostile_text,
        "data": st.recursive(
            st.none() | st.integers() | hostile_text,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner),
            max_leaves=10,
        ),
    },
).map(lambda doc: json.dumps(doc).encode())
bodies = json_body | st.binary(max_size=300) | st.just(b"[" * 5000 + b"]" * 5000)
extra_headers = st.dictionaries(
    st.from_regex(r"x-[a-z]{1,10}", fullmatch=True),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=50),
    max_size=3,
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    scheme_name=st.sampled_from(sorted(SCHEMES)),
    body=bodies,
    sign=st.booleans(),
    tamper=st.sampled_from(["none", "none", "none", "body", "header", "drop"]),
    extra=extra_headers,
)
def test_any_input_gets_an_answer_below_500_and_forgeries_are_never_stored(
    tmp_path: Path, scheme_name: str, body: bytes, sign: bool, tamper: str, extra: dict[str, str]
) -> None:
    async def go() -> None:
        store = open_store(f"sqlite:///{tmp_path}/fuzz-{uuid.uuid4().hex}.db")
        await store.migrate()
        scheme = get_scheme(scheme_name, **OPTIONS.get(scheme_name, {}))
        secret = SECRETS.get(scheme_name, "fuzz-secret-0123456789abcdef")
        endpoint = WebhookEndpoint(source="fuzz", path="/hook", scheme=scheme, secrets=[secret])
        webhooks = Webhooks(store, [endpoint])
        headers = dict(extra)
        intact = sign and tamper == "none"
        if sign:
            signed = scheme.sign(
                body, secret, timestamp=time.time(), event_id="evt-fuzz", event_type="t"
            )
            headers.update(signed)
            signatures = [n for n in signed if "sig" in n.lower() or "hmac" in n.lower()]
            for name in signatures:
                if tamper == "header":
                    value = headers[name]
                    headers[name] = value[:-1] + ("0" if value[-1:] != "0" else "1")
                elif tamper == "drop":
                    headers.pop(name)
        sent = body + b"!" if tamper == "body" and sign else body
        try:
            async with store.transaction() as tx:
                before = await tx.fetchval("SELECT COUNT(*) FROM seawall_webhook_inbox")
            transport = httpx.ASGITransport(app=webhooks.asgi_app())
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                answer = await client.post("/hook", content=sent, headers=headers)
            async with store.transaction() as tx:
                after = await tx.fetchval("SELECT COUNT(*) FROM seawall_webhook_inbox")
        finally:
            await store.close()
        event(f"status {answer.status_code}")
        assert answer.status_code < 500, answer.text
        assert answer.json()["reason" if answer.status_code >= 400 else "received"]
        if not intact:
            assert answer.status_code >= 400, "a request not signed as sent must be refused"
            assert after == before
        elif answer.status_code == 200 and not answer.json().get("duplicate"):
            assert after == before + 1

    run(go())
