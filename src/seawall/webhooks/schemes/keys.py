"""Pre-computed HMAC keys: key pads are hashed once per secret, so a verification hashes only data.

`HmacKey` is plain RFC 2104 HMAC on `hashlib` objects: the inner and outer states (key XOR ipad,
key XOR opad) are built once and copied per message (`inner`/`outer` are public so the
verifiers' hot loop can use them without a method call). It is checked against `hmac.new` and the
RFC 4231 / RFC 2202 vectors in the tests. `KeyCache` maps each configured secret object to its
prepared key so a steady stream of verifications never re-derives keys.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable
from typing import Any

from seawall.secrets import Secret

__all__ = [
    "ALGORITHMS",
    "HmacKey",
    "KeyCache",
    "KeyEntry",
    "SecretLike",
    "secret_text_or_bytes",
    "utf8_deriver",
]

SecretLike = Secret | str | bytes
KeyEntry = tuple[object, "HmacKey | None", Any, Any]
"""A KeyCache entry: (secret, key, copy of the inner state, copy of the outer state)."""

ALGORITHMS = ("sha256", "sha512", "sha1")
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class HmacKey:
    """An HMAC key with its inner and outer hash states computed once."""

    __slots__ = ("algorithm", "digest_size", "inner", "outer")

    def __init__(self, key: bytes, algorithm: str = "sha256") -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown HMAC algorithm {algorithm!r}; use one of {ALGORITHMS}")
        if not key:
            raise ValueError("an HMAC key must not be empty")
        probe = hashlib.new(algorithm)
        if len(key) > probe.block_size:
            key = hashlib.new(algorithm, key).digest()
        key = key.ljust(probe.block_size, b"\0")
        self.inner = hashlib.new(algorithm, key.translate(_IPAD))
        self.outer = hashlib.new(algorithm, key.translate(_OPAD))
        self.algorithm = algorithm
        self.digest_size = probe.digest_size

    def digest(self, *parts: bytes) -> bytes:
        """HMAC of the concatenation of `parts` (no copy of the body is ever made)."""
        inner = self.inner.copy()
        for part in parts:
            inner.update(part)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def hexdigest(self, *parts: bytes) -> str:
        """Lower-case hex HMAC of the concatenation of `parts`."""
        inner = self.inner.copy()
        for part in parts:
            inner.update(part)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def b64digest(self, *parts: bytes) -> str:
        """Standard padded base64 HMAC of the concatenation of `parts`."""
        return binascii.b2a_base64(self.digest(*parts), newline=False).decode("ascii")

    def __repr__(self) -> str:
        return f"HmacKey({self.algorithm}, <redacted>)"


def secret_text_or_bytes(secret: SecretLike) -> str | bytes:
    """The raw value of a secret: `Secret.value`, or the str/bytes given."""
    if isinstance(secret, Secret):
        return secret.value
    if isinstance(secret, str | bytes):
        return secret
    raise TypeError(f"a secret must be a Secret, str or bytes, not {type(secret).__name__}")


class KeyCache:
    """Prepared keys per secret object, derived on first use (bounded; identity-keyed).

    `derive` turns one secret into an HmacKey, or returns None when the secret cannot be used
    (empty, or not valid for the scheme); unusable secrets are skipped by the verifiers.
    Each entry is `(secret, key, key.inner.copy, key.outer.copy)` (the bound copy methods save
    the verifiers' hot loop two lookups each), or `(secret, None, None, None)` when unusable.
    """

    __slots__ = ("_derive", "_limit", "entries")

    def __init__(self, derive: Callable[[SecretLike], HmacKey | None], limit: int = 256) -> None:
        self._derive = derive
        self.entries: dict[int, KeyEntry] = {}
        self._limit = limit

    def get(self, secret: SecretLike) -> HmacKey | None:
        """The prepared key for `secret` (None when it is unusable)."""
        entry = self.entries.get(id(secret))
        if entry is not None and entry[0] is secret:
            return entry[1]
        return self.entry(secret)[1]

    def entry(self, secret: SecretLike) -> KeyEntry:
        """Derive and remember the entry for `secret` (the slow path of a lookup)."""
        key = self._derive(secret)
        if len(self.entries) >= self._limit:
            self.entries.clear()
        # Holding the secret object keeps its id from being reused while the entry lives.
        entry: KeyEntry = (
            (secret, None, None, None)
            if key is None
            else (secret, key, key.inner.copy, key.outer.copy)
        )
        self.entries[id(secret)] = entry
        return entry

    def derive(self, secret: SecretLike) -> HmacKey | None:
        """Derive and remember the key for `secret`."""
        return self.entry(secret)[1]


def utf8_deriver(algorithm: str = "sha256") -> Callable[[SecretLike], HmacKey | None]:
    """A deriver keying the HMAC with the secret's UTF-8 bytes as given (or the bytes given)."""

    def derive(secret: SecretLike) -> HmacKey | None:
        raw = secret_text_or_bytes(secret)
        key = raw.encode() if isinstance(raw, str) else raw
        return HmacKey(key, algorithm) if key else None

    return derive
