"""`/openapi.json` describes the service, and schemathesis finds it true for a few seconds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from seawall.config import parse_config
from seawall.service import build_service
from tests.serving import serve_in_thread

CONFIG = {
    "webhooks": [
        {
            "source": "guide",
            "path": "/api/webhooks/guide",
            "scheme": "hmac-timestamp",
            "secrets": ["literal:s3cret-for-openapi"],
        },
        {
            "source": "std",
            "path": "/api/webhooks/std",
            "scheme": "standard-webhooks",
            "secrets": ["literal:whsec_c2VjcmV0LWZvci1vcGVuYXBpLXRlc3Q="],
            "invalid_signature_status": 401,
            "strict": True,
        },
    ]
}


@pytest.fixture
def service_url(tmp_path: Path) -> Iterator[str]:
    config = parse_config({**CONFIG, "store": {"url": f"sqlite:///{tmp_path}/s.db"}})
    with serve_in_thread(build_service(config, with_worker=False)) as base:
        yield base


def test_openapi_lists_each_webhook_with_its_scheme_headers_and_the_probes(
    service_url: str,
) -> None:
    with urllib.request.urlopen(f"{service_url}/openapi.json", timeout=10) as response:
        document = json.loads(response.read())
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert set(paths) == {
        "/api/webhooks/guide",
        "/api/webhooks/std",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    guide = paths["/api/webhooks/guide"]["post"]
    assert [p["name"] for p in guide["parameters"]] == ["x-signature", "x-timestamp"]
    std = paths["/api/webhooks/std"]["post"]
    assert {p["name"] for p in std["parameters"]} == {
        "webhook-id",
        "webhook-signature",
        "webhook-timestamp",
    }
    assert "401" in std["responses"] and "401" not in guide["responses"]
    assert {"200", "400", "413", "503"} <= set(guide["responses"])
    # Any authentic body is stored, forms included, unless the endpoint is strict.
    assert set(guide["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    assert set(std["requestBody"]["content"]) == {"application/json"}


def test_schemathesis_finds_the_document_true(service_url: str, tmp_path: Path) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if cli is None:
        pytest.skip("schemathesis is not installed (the dev extra)")
    proc = subprocess.run(
        [
            cli,
            "run",
            f"{service_url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--max-examples",
            "25",
            "--seed",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # its cache stays out of the checkout
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
