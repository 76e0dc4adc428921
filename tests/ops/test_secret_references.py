"""Secret references: only recognised forms resolve; a mistyped one never becomes the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.config import parse_config
from seawall.secrets import (
    SUPPORTED_FORMS,
    SecretError,
    SecretMissingError,
    resolve_secret,
    resolve_secrets,
)
from seawall.webhooks import WebhookEndpoint


def test_env_file_and_literal_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_T_SECRET", "from-env")
    (tmp_path / "key").write_text("from-file\n")
    assert resolve_secret("env:SEAWALL_T_SECRET").value == "from-env"
    assert resolve_secret(f"file:{tmp_path}/key").value == "from-file"
    literal = resolve_secret("literal:a:b:c")
    assert literal.value == "a:b:c" and "a:b:c" not in repr(literal)


@pytest.mark.parametrize(
    "reference",
    [
        "ssm:/myapp/webhook-secret",
        "secretsmanager:myapp/webhook",
        "${ssm:/myapp/webhook-secret}",
        "vault:secret/x",
        "Env:NAME",
        "plain-secret-value",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ],
)
def test_anything_else_is_refused_naming_the_forms(reference: str) -> None:
    with pytest.raises(SecretError) as caught:
        resolve_secret(reference, name="webhooks[p].secrets[0]")
    message = str(caught.value)
    assert message.startswith("webhooks[p].secrets[0]:")
    assert reference not in message or reference.startswith(("ssm:", "secretsmanager:", "${"))
    if reference.startswith(("ssm:", "secretsmanager:")):
        assert "needs the AWS mode" in message
    else:
        assert SUPPORTED_FORMS in message


def test_the_guides_ssm_placeholder_is_not_the_hmac_key() -> None:
    """The guide's best practice 5 written into a config must fail, not sign with its text."""
    config = parse_config(
        {
            "store": {"url": "sqlite:///x.db"},
            "webhooks": [{"source": "p", "path": "/p", "secrets": ["ssm:/myapp/webhook-secret"]}],
        }
    )
    with pytest.raises(SecretError, match="needs the AWS mode"):
        WebhookEndpoint.from_config(config.webhooks[0])


def test_rotation_skips_only_a_missing_previous_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_T_CURRENT", "now")
    monkeypatch.delenv("SEAWALL_T_OLD", raising=False)
    found = resolve_secrets(["env:SEAWALL_T_CURRENT", "env:SEAWALL_T_OLD"])
    assert [s.value for s in found] == ["now"]
    with pytest.raises(SecretMissingError):
        resolve_secrets(["env:SEAWALL_T_OLD"])
    with pytest.raises(SecretError):  # a malformed previous secret is refused, never skipped
        resolve_secrets(["env:SEAWALL_T_CURRENT", "oops-a-literal"])


def test_a_plain_setting_may_be_plain_text() -> None:
    assert resolve_secret("https://api.example.com", plain_ok=True).value.startswith("https:")
