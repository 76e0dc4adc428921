"""Secret references read from SSM and Secrets Manager, against a real (local) AWS endpoint."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator

import pytest

from seawall.aws.clients import AwsClients
from seawall.aws.secrets import AwsSecretResolvers, enable_aws_secrets
from seawall.secrets import SecretError, SecretMissingError, resolve_secret, resolve_secrets
from seawall.testing import FakeClock

_numbers = itertools.count(1)
VALUE = "whsec-very-secret-0123456789"


@pytest.fixture
def prefix() -> str:
    """A parameter path / secret name prefix no other test uses."""
    return f"/seawall-test/{os.getpid()}-{next(_numbers)}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def secrets(aws: AwsClients, clock: FakeClock) -> Iterator[AwsSecretResolvers]:
    """The AWS resolvers, registered for the test and unregistered after it."""
    with enable_aws_secrets(aws, ttl_s=300, refresh_interval_s=30, clock=clock) as resolvers:
        yield resolvers


def put_parameter(aws: AwsClients, name: str, value: str) -> None:
    aws.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    aws.calls.clear()


def put_secret(aws: AwsClients, name: str, value: str | bytes) -> None:
    sm = aws.client("secretsmanager")
    field = "SecretBinary" if isinstance(value, bytes) else "SecretString"
    try:
        sm.create_secret(Name=name, **{field: value})
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, **{field: value})
    aws.calls.clear()


def test_ssm_securestring_is_decrypted(
    aws: AwsClients, secrets: AwsSecretResolvers, prefix: str
) -> None:
    put_parameter(aws, f"{prefix}/hook", VALUE)
    secret = resolve_secret(f"ssm:{prefix}/hook", name="webhooks[p].secrets[0]")
    assert secret.value == VALUE
    assert secret.reference == f"ssm:{prefix}/hook"
    assert aws.calls == {"ssm.GetParameter": 1}


def test_secretsmanager_whole_value_and_json_key(
    aws: AwsClients, secrets: AwsSecretResolvers, prefix: str
) -> None:
    put_secret(aws, f"{prefix}/plain", VALUE)
    put_secret(aws, f"{prefix}/json", json.dumps({"current": VALUE, "previous": "old-one"}))
    assert resolve_secret(f"secretsmanager:{prefix}/plain").value == VALUE
    assert resolve_secret(f"secretsmanager:{prefix}/json#current").value == VALUE
    found = resolve_secrets(
        [f"secretsmanager:{prefix}/json#current", f"secretsmanager:{prefix}/json#previous"]
    )
    assert [s.value for s in found] == [VALUE, "old-one"]
    # two keys of one secret share one read
    assert aws.calls == {"secretsmanager.GetSecretValue": 2}


def test_secret_binary_is_text_or_refused(
    aws: AwsClients, secrets: AwsSecretResolvers, prefix: str
) -> None:
    put_secret(aws, f"{prefix}/bin-text", VALUE.encode())
    assert resolve_secret(f"secretsmanager:{prefix}/bin-text").value == VALUE
    put_secret(aws, f"{prefix}/bin-raw", b"\xff\xfe\x00raw")
    with pytest.raises(SecretError, match="not UTF-8 text; store the key as a SecretString"):
        resolve_secret(f"secretsmanager:{prefix}/bin-raw", name="k")


def test_json_key_problems_name_the_fix(
    aws: AwsClients, secrets: AwsSecretResolvers, prefix: str
) -> None:
    put_secret(aws, f"{prefix}/json", json.dumps({"current": VALUE, "n": 3}))
    put_secret(aws, f"{prefix}/text", VALUE)
    with pytest.raises(SecretMissingError) as missing:
        resolve_secret(f"secretsmanager:{prefix}/json#nope", name="hook")
    assert str(missing.value).startswith("hook: ")
    assert "has no key 'nope'; add it to the secret" in str(missing.value)
    with pytest.raises(SecretError, match="not a JSON object") as not_json:
        resolve_secret(f"secretsmanager:{prefix}/text#current", name="hook")
    assert type(not_json.value) is SecretError
    with pytest.raises(SecretError, match="is a JSON int, not a string"):
        resolve_secret(f"secretsmanager:{prefix}/json#n")
    with pytest.raises(SecretError, match="key after '#' is empty"):
        resolve_secret(f"secretsmanager:{prefix}/json#")
    # a previous secret whose key was removed after a rotation is skipped, like an unset variable
    found = resolve_secrets(
        [f"secretsmanager:{prefix}/json#current", f"secretsmanager:{prefix}/json#previous"]
    )
    assert [s.value for s in found] == [VALUE]
    for caught in (missing, not_json):
        assert VALUE not in str(caught.value)


def test_missing_parameter_and_secret_say_what_to_create(
    aws: AwsClients, secrets: AwsSecretResolvers, prefix: str
) -> None:
    with pytest.raises(SecretMissingError) as caught:
        resolve_secret(f"ssm:{prefix}/absent", name="webhooks[p].secrets[0]")
    message = str(caught.value)
    assert message.startswith(f"webhooks[p].secrets[0]: ssm:{prefix}/absent does not exist")
    assert f"aws ssm put-parameter --name {prefix}/absent --type SecureString" in message
    with pytest.raises(SecretMissingError, match="aws secretsmanager create-secret --name"):
        resolve_secret(f"secretsmanager:{prefix}/absent")
    # a missing previous secret is skipped; a missing current one is not
    put_parameter(aws, f"{prefix}/now", VALUE)
    found = resolve_secrets([f"ssm:{prefix}/now", f"ssm:{prefix}/absent"])
    assert [s.value for s in found] == [VALUE]


def test_other_aws_errors_are_one_line_secret_errors(
    aws: AwsClients, secrets: AwsSecretResolvers, prefix: str
) -> None:
    put_secret(aws, f"{prefix}/gone", VALUE)
    aws.client("secretsmanager").delete_secret(SecretId=f"{prefix}/gone", RecoveryWindowInDays=7)
    with pytest.raises(SecretError) as caught:
        resolve_secret(f"secretsmanager:{prefix}/gone", name="k")  # marked for deletion
    message = str(caught.value)
    assert type(caught.value) is SecretError
    assert message.startswith(
        f"k: secretsmanager:{prefix}/gone: GetSecretValue failed in us-east-1 ("
    )
    assert "\n" not in message and VALUE not in message


def test_access_denied_names_the_permission(
    aws: AwsClients, secrets: AwsSecretResolvers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    def denied(**_: object) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "User: x is not\nauthorized"}},
            "GetParameter",
        )

    monkeypatch.setattr(aws.client("ssm"), "get_parameter", denied)
    with pytest.raises(SecretError) as caught:
        resolve_secret("ssm:/app/key", name="k")
    message = str(caught.value)
    assert type(caught.value) is SecretError
    assert "access denied (AccessDeniedException); grant ssm:GetParameter" in message
    assert "\n" not in message and message.endswith("User: x is not authorized")


def test_values_are_cached_for_the_ttl(
    aws: AwsClients, secrets: AwsSecretResolvers, clock: FakeClock, prefix: str
) -> None:
    put_parameter(aws, f"{prefix}/hook", VALUE)
    for _ in range(5):
        assert resolve_secret(f"ssm:{prefix}/hook").value == VALUE
    assert secrets.get(f"${{ssm:{prefix}/hook}}").value == VALUE
    assert aws.calls == {"ssm.GetParameter": 1}
    put_parameter(aws, f"{prefix}/hook", "rotated-value")
    clock.advance(299)
    assert resolve_secret(f"ssm:{prefix}/hook").value == VALUE  # still fresh: no call
    assert aws.total_calls() == 0
    clock.advance(2)
    assert resolve_secret(f"ssm:{prefix}/hook").value == "rotated-value"
    assert aws.calls == {"ssm.GetParameter": 1}


def test_rotation_is_picked_up_after_refresh_or_invalidate(
    aws: AwsClients, secrets: AwsSecretResolvers, prefix: str
) -> None:
    put_secret(aws, f"{prefix}/hook", json.dumps({"current": VALUE}))
    reference = f"secretsmanager:{prefix}/hook#current"
    assert resolve_secret(reference).value == VALUE
    put_secret(aws, f"{prefix}/hook", json.dumps({"current": "second", "previous": VALUE}))
    assert resolve_secret(reference).value == VALUE  # cached
    assert secrets.refresh(reference).value == "second"
    assert resolve_secret(reference).value == "second"
    assert aws.calls == {"secretsmanager.GetSecretValue": 1}
    put_secret(aws, f"{prefix}/hook", json.dumps({"current": "third"}))
    secrets.invalidate()
    assert resolve_secret(reference).value == "third"
    put_secret(aws, f"{prefix}/hook", json.dumps({"current": "fourth"}))
    secrets.invalidate(f"secretsmanager:{prefix}/hook")  # the key is not needed to forget it
    assert resolve_secret(reference).value == "fourth"
    assert resolve_secret(reference).value == "fourth"
    assert aws.calls == {"secretsmanager.GetSecretValue": 1}  # since the last put


def test_refresh_after_a_failed_signature_is_rate_limited(
    aws: AwsClients, secrets: AwsSecretResolvers, clock: FakeClock, prefix: str
) -> None:
    put_parameter(aws, f"{prefix}/hook", VALUE)
    reference = f"ssm:{prefix}/hook"
    used = resolve_secret(reference)
    put_parameter(aws, f"{prefix}/hook", "rotated-value")
    # rotated a moment after it was read: the first failure re-reads it at once
    fresh = secrets.refresh_after_failure(reference)
    assert fresh is not None and fresh != used and fresh.value == "rotated-value"
    assert resolve_secret(reference).value == "rotated-value"  # the cache has it too
    # a flood of bad signatures makes no further call within refresh_interval_s
    for _ in range(100):
        clock.advance(0.1)
        assert secrets.refresh_after_failure(reference) is None
    assert aws.calls == {"ssm.GetParameter": 1}
    clock.advance(30)
    assert secrets.refresh_after_failure(reference) is not None
    assert aws.calls == {"ssm.GetParameter": 2}
    # a missing parameter is retried no more often, and its failure is not raised
    for _ in range(10):
        assert secrets.refresh_after_failure(f"ssm:{prefix}/absent") is None
    assert aws.calls == {"ssm.GetParameter": 3}


def test_a_failed_reread_keeps_serving_the_cached_value(
    aws: AwsClients,
    secrets: AwsSecretResolvers,
    clock: FakeClock,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.exceptions import ClientError

    put_parameter(aws, f"{prefix}/hook", VALUE)
    reference = f"ssm:{prefix}/hook"
    assert resolve_secret(reference).value == VALUE
    throttled = 0

    def throttle(**_: object) -> None:
        nonlocal throttled
        throttled += 1
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "Get")

    monkeypatch.setattr(aws.client("ssm"), "get_parameter", throttle)
    clock.advance(301)
    assert resolve_secret(reference).value == VALUE
    assert resolve_secret(reference).value == VALUE  # retried only after refresh_interval_s
    assert throttled == 1
    with pytest.raises(SecretError, match="ThrottlingException"):
        secrets.refresh(reference)  # an explicit refresh says why it failed
    monkeypatch.undo()
    put_parameter(aws, f"{prefix}/hook", "rotated-value")
    clock.advance(30)
    assert resolve_secret(reference).value == "rotated-value"


def test_shell_placeholder_is_accepted_only_when_enabled(aws: AwsClients, prefix: str) -> None:
    put_parameter(aws, f"{prefix}/hook", VALUE)
    put_secret(aws, f"{prefix}/sm", VALUE)
    placeholders = [f"${{ssm:{prefix}/hook}}", f"${{secretsmanager:{prefix}/sm}}"]
    for placeholder in placeholders:
        with pytest.raises(SecretError, match="shell-style placeholder"):
            resolve_secret(placeholder)
    with enable_aws_secrets(aws):
        for placeholder in placeholders:
            secret = resolve_secret(placeholder)
            assert secret.value == VALUE and secret.reference == placeholder[2:-1]
        with pytest.raises(SecretError, match="shell-style placeholder"):
            resolve_secret("${WEBHOOK_SECRET}")  # only the AWS forms are unwrapped
        with pytest.raises(SecretError, match="shell-style placeholder"):
            resolve_secret("${env:HOME}")
    for placeholder in placeholders:  # refused again once disabled
        with pytest.raises(SecretError, match="shell-style placeholder"):
            resolve_secret(placeholder)
    with pytest.raises(SecretError, match="needs the AWS mode"):
        resolve_secret(f"ssm:{prefix}/hook")


def test_disabling_an_old_resolver_leaves_a_newer_one(aws: AwsClients, prefix: str) -> None:
    put_parameter(aws, f"{prefix}/hook", VALUE)
    old = enable_aws_secrets(aws)
    with enable_aws_secrets(aws):
        old.disable()
        assert resolve_secret(f"ssm:{prefix}/hook").value == VALUE
    with pytest.raises(SecretError, match="needs the AWS mode"):
        resolve_secret(f"ssm:{prefix}/hook")


def test_the_value_is_never_printed(
    aws: AwsClients, secrets: AwsSecretResolvers, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    put_secret(aws, f"{prefix}/json", json.dumps({"current": VALUE}))
    put_parameter(aws, f"{prefix}/hook", VALUE)
    printed: list[str] = []
    for reference in (f"ssm:{prefix}/hook", f"secretsmanager:{prefix}/json#current"):
        secret = resolve_secret(reference)
        assert secret.value == VALUE
        printed += [repr(secret), str(secret), f"{secret}"]
        refreshed = secrets.refresh(reference)
        printed += [repr(refreshed), str(refreshed)]
    printed += [repr(secrets), str(secrets), repr(secrets._cache)]
    for reference in (f"secretsmanager:{prefix}/json#other", f"secretsmanager:{prefix}/json#"):
        with pytest.raises(SecretError) as caught:
            resolve_secret(reference)
        printed.append(str(caught.value))
    assert not [text for text in printed if VALUE in text]
    assert VALUE not in caplog.text


def test_not_an_aws_reference_is_refused(secrets: AwsSecretResolvers) -> None:
    with pytest.raises(SecretError, match="not an AWS secret reference"):
        secrets.get("env:HOME")
    with pytest.raises(SecretError, match="needs a parameter name"):
        resolve_secret("ssm:")
