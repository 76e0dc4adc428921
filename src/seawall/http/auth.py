"""Auth helpers that take secret references (`env:NAME`, `file:/path`) resolved at construction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from seawall.http.errors import ConfigurationError
from seawall.secrets import Secret, resolve_secret

__all__ = ["ApiKeyAuth", "Auth", "BearerAuth"]


@runtime_checkable
class Auth(Protocol):
    """Something that adds credentials to every request as headers."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers to add to each request."""
        ...

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Raw secret values, so error messages and logs can scrub them."""
        ...


class BearerAuth:
    """`Authorization: Bearer <token>`, the token read once from a secret reference."""

    def __init__(self, token_ref: str) -> None:
        self._secret: Secret = resolve_secret(token_ref, name="BearerAuth token")
        self._headers = {"Authorization": f"Bearer {self._secret.value}"}

    @property
    def headers(self) -> Mapping[str, str]:
        """The Authorization header."""
        return self._headers

    @property
    def secret_values(self) -> tuple[str, ...]:
        """The token."""
        return (self._secret.value,)

    def __repr__(self) -> str:
        return f"BearerAuth({self._secret.reference!r})"


class ApiKeyAuth:
    """An API key sent in a header (default `X-API-Key`), read once from a secret reference."""

    def __init__(self, header: str = "X-API-Key", key_ref: str = "") -> None:
        if not header or any(c in header for c in " :\r\n"):
            raise ConfigurationError(f"ApiKeyAuth: {header!r} is not a valid header name")
        self.header = header
        self._secret: Secret = resolve_secret(key_ref, name=f"ApiKeyAuth {header}")
        self._headers = {header: self._secret.value}

    @property
    def headers(self) -> Mapping[str, str]:
        """The API key header."""
        return self._headers

    @property
    def secret_values(self) -> tuple[str, ...]:
        """The key."""
        return (self._secret.value,)

    def __repr__(self) -> str:
        return f"ApiKeyAuth({self.header!r}, {self._secret.reference!r})"
