"""Secret references read from AWS: `ssm:/path` and `secretsmanager:NAME[#key]`, cached with a TTL.

`enable_aws_secrets(clients)` registers resolvers for the `ssm` and `secretsmanager` prefixes of
`seawall.secrets`, so every place that takes a secret reference (webhook secrets, the dashboard
token, `BearerAuth`) accepts them, and the guide's `${ssm:/path}` is read as `ssm:/path`.

- `ssm:/myapp/webhook-secret`: SSM GetParameter with decryption (a SecureString's plain text;
  a String parameter is returned as is). A version or label selector (`ssm:/p:3`) is passed on.
- `secretsmanager:myapp/webhook`: Secrets Manager GetSecretValue (AWSCURRENT), the whole
  SecretString. `secretsmanager:myapp/webhook#signing_key` reads the key `signing_key` of a
  secret that holds a JSON object (`#` cannot occur in a secret name, so it is unambiguous; an
  ARN works in place of the name). A SecretBinary is used when it is UTF-8 text, else refused.

Each parameter or secret is read once per `ttl_s` (two `#key`s of one secret share one read).
After a rotation, `refresh(reference)` re-reads at once and `invalidate()` forgets everything;
`refresh_after_failure(reference)`, for a caller that just saw a signature fail to verify,
re-reads at most once per `refresh_interval_s`, so a flood of bad signatures cannot turn into a
flood of AWS calls. When a re-read after the TTL fails for a reason other than the secret being
gone (throttling, a network error, a revoked permission), the cached value keeps being served and
the read is retried after `refresh_interval_s`; the failure is logged, the value never is.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from seawall.aws.clients import AwsClients
from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.secrets import (
    Secret,
    SecretError,
    SecretMissingError,
    register_resolver,
    unregister_resolver,
)

__all__ = ["AwsSecretResolvers", "enable_aws_secrets"]

_log = logging.getLogger("seawall.aws.secrets")

_SSM = "ssm"
_SM = "secretsmanager"
_MISSING_CODES = frozenset(
    {"ParameterNotFound", "ParameterVersionNotFound", "ResourceNotFoundException"}
)
_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})

_Target = tuple[str, str]
"""(service, parameter name or secret id): what one AWS read fetches."""


@dataclass(frozen=True, slots=True)
class _Entry:
    text: str = field(repr=False)
    expires_at: float


def _parse(reference: str) -> tuple[_Target, str | None, str]:
    """`ssm:/p`, `secretsmanager:n#key` or their `${...}` forms: (target, json key, label)."""
    if reference.startswith("${") and reference.endswith("}"):
        reference = reference[2:-1]
    prefix, sep, rest = reference.partition(":")
    if not sep or prefix not in (_SSM, _SM):
        raise SecretError(
            f"{reference[:60]!r} is not an AWS secret reference; "
            "write 'ssm:/path' or 'secretsmanager:NAME' (with '#key' for a JSON key)"
        )
    if prefix == _SSM:
        return _ssm_target(rest), None, f"{_SSM}:{rest}"
    target, key = _sm_target(rest)
    return target, key, f"{_SM}:{rest}"


def _ssm_target(name: str) -> _Target:
    if not name:
        raise SecretError("'ssm:' needs a parameter name, e.g. 'ssm:/myapp/webhook-secret'")
    return (_SSM, name)


def _sm_target(rest: str) -> tuple[_Target, str | None]:
    secret_id, sep, key = rest.partition("#")
    if not secret_id:
        raise SecretError(
            "'secretsmanager:' needs a secret name, e.g. 'secretsmanager:myapp/webhook'"
        )
    if sep and not key:
        raise SecretError(
            f"secretsmanager:{secret_id}#: the JSON key after '#' is empty; "
            f"write 'secretsmanager:{secret_id}#KEY' or drop the '#'"
        )
    return (_SM, secret_id), (key if sep else None)


def _one_line(text: object, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class AwsSecretResolvers:
    """The `ssm` and `secretsmanager` resolvers and their cache (see the module docstring).

    Made and registered by `enable_aws_secrets`; `disable()` (or leaving a `with` block)
    unregisters them, after which those references are refused again.
    """

    def __init__(
        self,
        clients: AwsClients,
        *,
        ttl_s: float = 300.0,
        refresh_interval_s: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if ttl_s < 0 or refresh_interval_s < 0:
            raise ValueError("ttl_s and refresh_interval_s must be >= 0")
        self.clients = clients
        self.ttl_s = float(ttl_s)
        self.refresh_interval_s = float(refresh_interval_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[_Target, _Entry] = {}
        self._last_read: dict[_Target, float] = {}
        self._last_forced: dict[_Target, float] = {}

    def __repr__(self) -> str:
        return (
            f"AwsSecretResolvers(region={self.clients.region!r}, ttl_s={self.ttl_s}, "
            f"cached={len(self._cache)})"
        )

    # The resolvers registered with seawall.secrets: they get the part after the prefix.

    def resolve_ssm(self, name: str) -> str:
        """The value of SSM parameter `name` (decrypted), from the cache while it is fresh."""
        return self._text(_ssm_target(name))

    def resolve_secretsmanager(self, rest: str) -> str:
        """The value of `NAME` or `NAME#key` in Secrets Manager, from the cache while fresh."""
        target, key = _sm_target(rest)
        return _json_key(self._text(target), target[1], key)

    # For callers holding a whole reference (`ssm:/p`, `secretsmanager:n#k`, or `${...}`).

    def get(self, reference: str) -> Secret:
        """The secret a reference names, from the cache while it is fresh."""
        target, key, label = _parse(reference)
        return self._secret(self._text(target), target, key, label)

    def refresh(self, reference: str) -> Secret:
        """Re-read the secret now (after a rotation), replacing the cached value; errors raise."""
        target, key, label = _parse(reference)
        return self._secret(self._fetch_and_store(target), target, key, label)

    def refresh_after_failure(self, reference: str) -> Secret | None:
        """Re-read the secret unless such a re-read happened less than `refresh_interval_s` ago.

        For a caller whose signature check just failed: the secret may have been rotated, even
        a moment after it was last read. Returns the freshly read Secret (compare it with the one
        used), or None when the last forced re-read was too recent or the read failed (logged):
        a flood of bad signatures makes at most one AWS call per reference per
        `refresh_interval_s`.
        """
        target, key, label = _parse(reference)
        now = self._clock.monotonic()
        with self._lock:
            last = self._last_forced.get(target)
            if last is not None and now - last < self.refresh_interval_s:
                return None
            self._last_forced[target] = now
        try:
            return self._secret(self._fetch_and_store(target), target, key, label)
        except SecretError as exc:
            _log.warning("refreshing %s after a failed signature: %s", label, exc)
            return None

    def invalidate(self, reference: str | None = None) -> None:
        """Forget the cached value of `reference` (every value without one); the next use
        re-reads it. The refresh rate limit is not reset."""
        with self._lock:
            if reference is None:
                self._cache.clear()
            else:
                self._cache.pop(_parse(reference)[0], None)

    def enable(self) -> AwsSecretResolvers:
        """Register the `ssm` and `secretsmanager` resolvers (replacing any registered before)."""
        register_resolver(_SSM, self.resolve_ssm)
        register_resolver(_SM, self.resolve_secretsmanager)
        return self

    def disable(self) -> None:
        """Unregister these resolvers (those references are refused again) and drop the cache."""
        unregister_resolver(_SSM, self.resolve_ssm)
        unregister_resolver(_SM, self.resolve_secretsmanager)
        self.invalidate()

    def __enter__(self) -> AwsSecretResolvers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disable()

    # Internals.

    def _secret(self, text: str, target: _Target, key: str | None, label: str) -> Secret:
        value = _json_key(text, target[1], key) if target[0] == _SM else text
        if not value:
            raise SecretError(f"{label} resolved to an empty value; set a non-empty secret")
        return Secret(value=value, reference=label)

    def _text(self, target: _Target) -> str:
        now = self._clock.monotonic()
        with self._lock:
            entry = self._cache.get(target)
        if entry is not None and now < entry.expires_at:
            return entry.text
        try:
            return self._fetch_and_store(target)
        except SecretMissingError:
            with self._lock:
                self._cache.pop(target, None)
            raise
        except SecretError as exc:
            if entry is None:
                raise
            _log.warning(
                "re-reading %s:%s failed, serving the cached value for %ss more: %s",
                *target,
                self.refresh_interval_s,
                exc,
            )
            with self._lock:
                self._cache[target] = _Entry(entry.text, now + self.refresh_interval_s)
            return entry.text

    def _fetch_and_store(self, target: _Target) -> str:
        text = self._fetch(target)
        now = self._clock.monotonic()
        with self._lock:
            self._cache[target] = _Entry(text, now + self.ttl_s)
            self._last_read[target] = now
        return text

    def _fetch(self, target: _Target) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        service, ident = target
        label = f"{service}:{ident}"
        try:
            if service == _SSM:
                found = self.clients.client(_SSM).get_parameter(Name=ident, WithDecryption=True)
                return str(found["Parameter"]["Value"])
            return _secret_text(self.clients.client(_SM).get_secret_value(SecretId=ident), label)
        except ClientError as exc:
            raise self._client_error(exc, service, ident, label) from None
        except BotoCoreError as exc:
            raise SecretError(f"{label}: cannot read it from AWS: {_one_line(exc)}") from None

    def _client_error(self, exc: Any, service: str, ident: str, label: str) -> SecretError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        reason = _one_line(error.get("Message", ""))
        operation = "GetParameter" if service == _SSM else "GetSecretValue"
        region = self.clients.region
        if code in _MISSING_CODES:
            if service == _SSM:
                create = f"aws ssm put-parameter --name {ident} --type SecureString --value ..."
            else:
                create = f"aws secretsmanager create-secret --name {ident} --secret-string ..."
            return SecretMissingError(f"{label} does not exist in {region}; create it: {create}")
        if code in _DENIED_CODES:
            grant = (
                "ssm:GetParameter (and kms:Decrypt for a SecureString)"
                if service == _SSM
                else "secretsmanager:GetSecretValue (and kms:Decrypt for a customer key)"
            )
            return SecretError(
                f"{label}: access denied ({code}); grant {grant} on it to this role: {reason}"
            )
        return SecretError(f"{label}: {operation} failed in {region} ({code}): {reason}")


def _secret_text(found: dict[str, Any], label: str) -> str:
    if found.get("SecretString") is not None:
        return str(found["SecretString"])
    binary = found.get("SecretBinary")
    if binary is None:
        raise SecretError(f"{label} has no value yet; put one: aws secretsmanager put-secret-value")
    try:
        return bytes(binary).decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(
            f"{label} holds binary data that is not UTF-8 text; store the key as a "
            "SecretString (its text, or its base64 or hex encoding)"
        ) from None


def _json_key(text: str, secret_id: str, key: str | None) -> str:
    """The whole secret, or the string at `key` of the JSON object it holds."""
    if key is None:
        return text
    label = f"{_SM}:{secret_id}#{key}"
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise SecretError(
            f"{label}: the secret is not a JSON object, so it has no key {key!r}; store "
            f'{{"{key}": "..."}} in it, or write \'{_SM}:{secret_id}\' for the whole value'
        )
    if key not in document:
        raise SecretMissingError(
            f"{label}: the secret's JSON has no key {key!r}; add it to the secret, "
            "or fix the key after '#'"
        )
    value = document[key]
    if not isinstance(value, str):
        raise SecretError(
            f"{label}: the value at {key!r} is a JSON {type(value).__name__}, not a string; "
            "store the secret as a JSON string"
        )
    return value


def enable_aws_secrets(
    clients: AwsClients,
    *,
    ttl_s: float = 300.0,
    refresh_interval_s: float = 30.0,
    clock: Clock = SYSTEM_CLOCK,
) -> AwsSecretResolvers:
    """Resolve `ssm:` and `secretsmanager:` references (and `${...}` around them) through AWS.

    Values are cached for `ttl_s` seconds; `refresh_after_failure` re-reads at most once per
    `refresh_interval_s`. Returns the resolvers: `refresh`, `invalidate`, `disable`; usable as
    a context manager that disables them on exit.
    """
    return AwsSecretResolvers(
        clients, ttl_s=ttl_s, refresh_interval_s=refresh_interval_s, clock=clock
    ).enable()
