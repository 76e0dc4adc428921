"""`sign` and `verify`: headers for a payload, and precise reasons a captured request fails."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

SECRET = "s3cret-for-signing"


def _sign(invoke, body_file: Path, *args: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    result = invoke(
        "sign", "--secret", f"literal:{SECRET}", "--body-file", str(body_file), "--json", *args
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["headers"]  # type: ignore[no-any-return]


def _h(headers: dict[str, str]) -> list[str]:
    return [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_bytes(b'{"id":"evt_1", "type":"payment.completed","note":"caf\\u00e9 \\/ x"}')
    return path


def test_sign_people_output_lists_headers(invoke, body_file: Path) -> None:  # type: ignore[no-untyped-def]
    result = invoke(
        "sign",
        "--secret",
        f"literal:{SECRET}",
        "--body-file",
        str(body_file),
        "--timestamp",
        "1700000000",
    )
    assert result.exit_code == 0
    lines = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert lines["x-timestamp"] == "1700000000"
    assert len(lines["x-signature"]) == 64


@pytest.mark.parametrize("scheme", ["hmac-timestamp", "stripe", "github", "slack", "shopify"])
def test_signed_headers_verify(invoke, body_file: Path, scheme: str) -> None:  # type: ignore[no-untyped-def]
    headers = _sign(invoke, body_file, "--scheme", scheme, "--event-id", "evt_1")
    people = invoke(
        "verify",
        "--scheme",
        scheme,
        "--secret",
        f"literal:{SECRET}",
        "--body-file",
        str(body_file),
        *_h(headers),
    )
    assert people.exit_code == 0, people.stderr
    assert people.stdout.startswith(f"valid {scheme} signature")
    data = json.loads(
        invoke(
            "verify",
            "--scheme",
            scheme,
            "--secret",
            "literal:wrong",
            "--secret",
            f"literal:{SECRET}",
            "--body-file",
            str(body_file),
            *_h(headers),
            "--json",
        ).stdout
    )
    assert data["valid"] is True and data["secret_index"] == 1


def test_standard_webhooks_with_headers_file(invoke, body_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    result = invoke(
        "sign",
        "--scheme",
        "standard-webhooks",
        "--secret",
        f"literal:{secret}",
        "--body-file",
        str(body_file),
        "--event-id",
        "msg_1",
        "--json",
    )
    headers = json.loads(result.stdout)["headers"]
    captured = tmp_path / "headers.json"
    captured.write_text(json.dumps(headers))
    ok = invoke(
        "verify",
        "--scheme",
        "standard-webhooks",
        "--secret",
        f"literal:{secret}",
        "--body-file",
        str(body_file),
        "--headers-file",
        str(captured),
        "--json",
    )
    assert ok.exit_code == 0 and json.loads(ok.stdout)["event_id"] == "msg_1"


def test_wrong_secret(invoke, body_file: Path) -> None:  # type: ignore[no-untyped-def]
    headers = _sign(invoke, body_file)
    result = invoke(
        "verify", "--secret", "literal:not-the-secret", "--body-file", str(body_file), *_h(headers)
    )
    assert result.exit_code == 1
    assert "INVALID (bad_signature)" in result.stderr
    assert "wrong secret, or the body changed" in result.stderr
    data = json.loads(
        invoke(
            "verify",
            "--secret",
            "literal:nope",
            "--body-file",
            str(body_file),
            *_h(headers),
            "--json",
        ).stdout
    )
    assert data == {
        "valid": False,
        "reason": "bad_signature",
        "message": data["message"],
        "why": data["why"],
    }


def test_body_changed_by_a_trailing_newline(invoke, body_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    headers = _sign(invoke, body_file)
    edited = tmp_path / "edited.json"
    edited.write_bytes(body_file.read_bytes() + b"\n")
    result = invoke(
        "verify", "--secret", f"literal:{SECRET}", "--body-file", str(edited), *_h(headers)
    )
    assert result.exit_code == 1
    assert "body changed: a trailing newline was added" in result.stderr


def test_reserialised_body_fails_as_changed(invoke, body_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    headers = _sign(invoke, body_file)
    edited = tmp_path / "reserialised.json"
    edited.write_text(json.dumps(json.loads(body_file.read_bytes())))
    result = invoke(
        "verify", "--secret", f"literal:{SECRET}", "--body-file", str(edited), *_h(headers)
    )
    assert result.exit_code == 1 and "re-serialised JSON" in result.stderr


def test_stale_timestamp_with_right_signature(invoke, body_file: Path) -> None:  # type: ignore[no-untyped-def]
    old = str(int(time.time()) - 3600)
    headers = _sign(invoke, body_file, "--timestamp", old)
    result = invoke(
        "verify", "--secret", f"literal:{SECRET}", "--body-file", str(body_file), *_h(headers)
    )
    assert result.exit_code == 1
    assert "INVALID (stale_timestamp)" in result.stderr
    assert "signature is right for this secret" in result.stderr
    as_of = invoke(
        "verify",
        "--secret",
        f"literal:{SECRET}",
        "--body-file",
        str(body_file),
        *_h(headers),
        "--now",
        old,
    )
    assert as_of.exit_code == 0
    wrong_too = invoke(
        "verify", "--secret", "literal:" + "x" * 8, "--body-file", str(body_file), *_h(headers)
    )
    assert "does not match either" in wrong_too.stderr


def test_malformed_and_missing_headers(invoke, body_file: Path) -> None:  # type: ignore[no-untyped-def]
    result = invoke(
        "verify",
        "--secret",
        f"literal:{SECRET}",
        "--body-file",
        str(body_file),
        "-H",
        "x-signature: abc",
        "-H",
        "x-timestamp: yesterday",
    )
    assert result.exit_code == 1 and "INVALID (invalid_timestamp)" in result.stderr
    assert "header problem" in result.stderr
    missing = invoke(
        "verify",
        "--secret",
        f"literal:{SECRET}",
        "--body-file",
        str(body_file),
        "-H",
        "x-timestamp: 1",
    )
    assert "INVALID (missing_header)" in missing.stderr


def test_bad_arguments(invoke, body_file: Path) -> None:  # type: ignore[no-untyped-def]
    no_headers = invoke("verify", "--secret", f"literal:{SECRET}", "--body-file", str(body_file))
    assert no_headers.exit_code == 2 and "-H 'Name: value'" in no_headers.stderr
    bad_pair = invoke("verify", "--secret", f"literal:{SECRET}", "--body", "{}", "-H", "novalue")
    assert bad_pair.exit_code == 2 and "expected 'Name: value'" in bad_pair.stderr
    no_body = invoke("sign", "--secret", f"literal:{SECRET}")
    assert no_body.exit_code == 2 and "--body TEXT or --body-file" in no_body.stderr
    scheme = invoke("sign", "--secret", f"literal:{SECRET}", "--body", "{}", "--scheme", "nope")
    assert scheme.exit_code == 2 and "nope" in scheme.stderr
    unset = invoke("sign", "--secret", "env:SEAWALL_TEST_UNSET_SECRET", "--body", "{}")
    assert unset.exit_code == 1 and "SEAWALL_TEST_UNSET_SECRET is not set" in unset.stderr
    option = invoke("sign", "--secret", f"literal:{SECRET}", "--body", "{}", "--option", "bogus=1")
    assert option.exit_code == 2 and "bogus" in option.stderr
