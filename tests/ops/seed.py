"""Test data for the operator tests: dead letters in a real queue and webhook events ingested
through the real receiver (signed with the real scheme)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from seawall.config import SeawallConfig, parse_config
from seawall.jobs import Queue
from seawall.store import Store
from seawall.webhooks import Webhooks
from seawall.webhooks.schemes import get_scheme

SECRET = "whsec-test-secret-0123456789"
SOURCE = "payment-provider"
PATH = "/api/webhooks/payment-provider"


def webhook_config(store_url: str, **extra: object) -> SeawallConfig:
    """A configuration with the guide's endpoint (literal secret) on `store_url`."""
    data: dict[str, object] = {
        "store": {"url": store_url},
        "webhooks": [
            {"source": SOURCE, "path": PATH, "secrets": [f"literal:{SECRET}"], "max_receives": 1}
        ],
    }
    data.update(extra)
    return parse_config(data)


def write_config(path: Path, store_url: str, *, dashboard_token: str | None = None) -> Path:
    """Write a seawall.toml for `store_url` with the guide's endpoint."""
    lines = [
        "[store]",
        f'url = "{store_url}"',
        "",
        "[[webhooks]]",
        f'source = "{SOURCE}"',
        f'path = "{PATH}"',
        f'secrets = ["literal:{SECRET}"]',
        "max_receives = 1",
    ]
    if dashboard_token:
        lines += ["", "[dashboard]", f'token = "literal:{dashboard_token}"']
    path.write_text("\n".join(lines) + "\n")
    return path


async def dead_letters(store: Store, count: int, queue_name: str = "emails") -> list[str]:
    """Enqueue `count` jobs that fail once with max_receives=1, so each lands in the DLQ."""
    queue = Queue(store)
    ids = []
    for n in range(count):
        job_id = await queue.enqueue(queue_name, {"n": n}, max_receives=1)
        assert job_id is not None
        [job] = await queue.claim(queue_name)
        await queue.nack(job, error=f"SMTP 550 mailbox unavailable (job {n})", tb="Traceback: x")
        ids.append(job_id)
    return ids


async def events(store: Store, count: int, *, event_type: str = "payment.completed") -> list[str]:
    """Deliver `count` signed webhooks through the real receiver; returns their event ids."""
    webhooks = Webhooks.from_config(webhook_config(store.url), store)
    scheme = get_scheme("hmac-timestamp")
    transport = httpx.ASGITransport(app=webhooks.asgi_app())
    ids = []
    async with httpx.AsyncClient(transport=transport, base_url="http://seawall") as client:
        for n in range(count):
            event_id = f"evt_{n:04d}"
            body = json.dumps({"id": event_id, "type": event_type, "amount": 100 + n}).encode()
            headers = scheme.sign(body, SECRET)
            answer = await client.post(PATH, content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            ids.append(event_id)
    return ids
