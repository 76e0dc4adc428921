"""Secret references (`env:NAME`, `file:/path`, or a literal) resolved once, never logged."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Secret", "SecretError", "resolve_secret", "resolve_secrets"]


class SecretError(ValueError):
    """A secret reference could not be resolved; the message says what to set."""


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


def resolve_secret(reference: str, *, name: str = "secret") -> Secret:
    """Resolve `env:NAME`, `file:/path` or a literal string into a Secret.

    An unset variable, a missing file or an empty value raises SecretError naming the fix.
    """
    if not isinstance(reference, str):
        raise SecretError(
            f"{name}: expected a string like 'env:NAME', got {type(reference).__name__}"
        )
    if reference.startswith("env:"):
        var = reference[4:]
        if not var:
            raise SecretError(f"{name}: 'env:' needs a variable name, e.g. 'env:WEBHOOK_SECRET'")
        value = os.environ.get(var)
        if value is None:
            raise SecretError(f"{name}: environment variable {var} is not set; export {var}=...")
        label = reference
    elif reference.startswith("file:"):
        path = Path(reference[5:])
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise SecretError(f"{name}: cannot read {path}: {exc.strerror}") from None
        label = reference
    else:
        value = reference
        label = "<literal>"
    if not value:
        raise SecretError(f"{name}: {label} resolved to an empty value; set a non-empty secret")
    return Secret(value=value, reference=label)


def resolve_secrets(
    references: list[str] | tuple[str, ...], *, name: str = "secrets"
) -> list[Secret]:
    """Resolve a list of references; references to unset variables after the first are skipped.

    The first (current) secret must resolve; later ones (previous secrets kept for rotation)
    may be absent, so rotating out an old secret needs no config change.
    """
    resolved: list[Secret] = []
    for index, ref in enumerate(references):
        try:
            resolved.append(resolve_secret(ref, name=f"{name}[{index}]"))
        except SecretError:
            if index == 0:
                raise
    return resolved
