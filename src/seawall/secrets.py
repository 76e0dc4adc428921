"""Secret references (`env:`, `file:`, `literal:`, `ssm:`, `secretsmanager:`) resolved once, never
logged; anything else is refused, so a mistyped reference never becomes the key itself."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SUPPORTED_FORMS",
    "Resolver",
    "Secret",
    "SecretError",
    "SecretMissingError",
    "register_resolver",
    "resolve_secret",
    "resolve_secrets",
    "unregister_resolver",
]


class SecretError(ValueError):
    """A secret reference could not be resolved; the message says what to set."""


class SecretMissingError(SecretError):
    """The reference is well formed but names nothing there: an unset variable, a missing file."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A resolved secret value that never prints itself."""

    value: str
    reference: str

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})"

    __str__ = __repr__

    def bytes(self) -> bytes:
        """The secret's UTF-8 bytes."""
        return self.value.encode()


SUPPORTED_FORMS = (
    "'env:NAME', 'file:/path', 'literal:VALUE', 'ssm:/path' or 'secretsmanager:NAME' (AWS mode)"
)
"""The reference forms a secret may take, named in every refusal."""

_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-_]*):")
_AWS_PREFIXES = ("ssm", "secretsmanager")

Resolver = Callable[[str], str]
"""Turns the part after a reference's prefix into the secret value (raises SecretError)."""

_RESOLVERS: dict[str, Resolver] = {}


def register_resolver(prefix: str, resolver: Resolver) -> None:
    """Resolve `prefix:...` references with `resolver` (the AWS mode registers ssm and
    secretsmanager here); only the recognised AWS prefixes can be registered."""
    if prefix not in _AWS_PREFIXES:
        raise ValueError(f"only {', '.join(_AWS_PREFIXES)} resolvers can be registered")
    _RESOLVERS[prefix] = resolver


def unregister_resolver(prefix: str, resolver: Resolver | None = None) -> None:
    """Stop resolving `prefix:...` references (they are refused again, as without the AWS mode).

    With `resolver`, only that resolver is removed: one that replaced it stays registered.
    """
    if resolver is None or _RESOLVERS.get(prefix) == resolver:
        _RESOLVERS.pop(prefix, None)


def _unwrap_placeholder(reference: str) -> str:
    """`${ssm:/path}` as `ssm:/path` when that prefix's resolver is registered, else unchanged."""
    if reference.startswith("${") and reference.endswith("}"):
        inner = reference[2:-1]
        match = _PREFIX.match(inner)
        if match and match.group(1) in _RESOLVERS:
            return inner
    return reference


def resolve_secret(reference: str, *, name: str = "secret", plain_ok: bool = False) -> Secret:
    """Resolve a secret reference into a Secret; anything unrecognised is refused.

    Forms: `env:NAME`, `file:/path`, `literal:VALUE`, and `ssm:/path` / `secretsmanager:NAME`
    once the AWS mode registered their resolvers. A bare string, another `name:` prefix or the
    guide's shell form `${...}` raise SecretError naming the supported forms: a reference that
    was mistyped must never become the key itself; only `${ssm:/path}` and
    `${secretsmanager:NAME}` are read as their plain forms, once the AWS mode registered their
    resolvers (the guide writes them that way). `plain_ok=True` is for settings that are not
    secrets but may come from a reference (a URL): plain text is then the value.
    An unset variable, a missing file or an empty value raises SecretError naming the fix.
    """
    if not isinstance(reference, str):
        raise SecretError(
            f"{name}: expected a string like 'env:NAME', got {type(reference).__name__}"
        )
    reference = _unwrap_placeholder(reference)
    if reference.startswith("${") and not plain_ok:
        raise SecretError(
            f"{name}: {reference[:40]!r} is a shell-style placeholder, not a reference; write the "
            f"reference itself ({SUPPORTED_FORMS}), e.g. 'ssm:/myapp/webhook-secret'"
        )
    match = _PREFIX.match(reference)
    prefix = match.group(1) if match else None
    rest = reference[len(prefix) + 1 :] if prefix else reference
    if prefix == "env":
        if not rest:
            raise SecretError(f"{name}: 'env:' needs a variable name, e.g. 'env:WEBHOOK_SECRET'")
        value = os.environ.get(rest)
        if value is None:
            raise SecretMissingError(
                f"{name}: environment variable {rest} is not set; export {rest}=..."
            )
        label = reference
    elif prefix == "file":
        path = Path(rest)
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise SecretMissingError(f"{name}: cannot read {path}: {exc.strerror}") from None
        label = reference
    elif prefix == "literal":
        value, label = rest, "<literal>"
    elif prefix in _AWS_PREFIXES:
        resolver = _RESOLVERS.get(prefix)
        if resolver is None:
            raise SecretError(
                f"{name}: a '{prefix}:' reference needs the AWS mode, which is not installed "
                "or not enabled here; use 'env:NAME' or 'file:/path' meanwhile"
            )
        try:
            value = resolver(rest)
        except SecretError as exc:  # same class (a missing secret stays SecretMissingError)
            raise type(exc)(f"{name}: {exc}") from None
        label = reference
    elif plain_ok:
        value, label = reference, "<plain>"
    elif prefix is not None:
        raise SecretError(
            f"{name}: unknown secret reference prefix '{prefix}:'; use {SUPPORTED_FORMS} "
            "(a literal secret containing ':' is written 'literal:...')"
        )
    else:
        raise SecretError(
            f"{name}: a secret must be a reference ({SUPPORTED_FORMS}); a literal value needs "
            "the explicit form 'literal:...' so that a mistyped reference never becomes the key"
        )
    if not value:
        raise SecretError(f"{name}: {label} resolved to an empty value; set a non-empty secret")
    return Secret(value=value, reference=label)


def resolve_secrets(
    references: list[str] | tuple[str, ...], *, name: str = "secrets"
) -> list[Secret]:
    """Resolve a list of references; references to unset variables after the first are skipped.

    The first (current) secret must resolve; later ones (previous secrets kept for rotation)
    may name an unset variable or a missing file, so rotating out an old secret needs no config
    change. A malformed reference is refused wherever it stands.
    """
    resolved: list[Secret] = []
    for index, ref in enumerate(references):
        try:
            resolved.append(resolve_secret(ref, name=f"{name}[{index}]"))
        except SecretMissingError:
            if index == 0:
                raise
    return resolved
