"""The scheme contract (`Scheme`, `VerifiedRequest`) and the checks all schemes share.

Decisions every scheme follows:
- Header names are matched case-insensitively. The mapping is used as given when it already
  answers the lower-case name (ASGI and Starlette headers do); otherwise it is lower-cased once.
- The signature is checked over the raw body bytes with `hmac.compare_digest`; JSON is never
  parsed or re-serialised.
- No usable secret means no acceptance: an empty secret list fails with `no_secret` before any
  header is read, and no HMAC is ever computed with an empty key.
- A signed timestamp must lie within `tolerance_s` of `now` in both directions (stale and future),
  and it is checked before the HMAC so a replayed large body costs no hashing.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from binascii import Error as BinasciiError
from binascii import a2b_base64
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from hmac import compare_digest
from typing import ClassVar, NamedTuple

from seawall.webhooks.schemes.errors import FailureReason, VerificationError
from seawall.webhooks.schemes.keys import KeyCache, SecretLike

__all__ = [
    "DEFAULT_REDACT",
    "MAX_HEADER_CHARS",
    "MS_THRESHOLD",
    "NO_KEY",
    "NO_MATCH",
    "Scheme",
    "VerificationError",
    "VerifiedRequest",
    "bad_signature",
    "bad_tolerance",
    "check_tolerance",
    "check_window",
    "find_match",
    "lowered",
    "malformed",
    "match_one",
    "no_match",
    "no_secret",
    "optional_header",
    "parse_timestamp",
    "require",
    "sign_time",
    "verified_request",
    "window_error",
]

MAX_HEADER_CHARS = 8192
"""Longest signature, timestamp or id header value a scheme reads; longer is malformed."""

DEFAULT_REDACT = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
"""Headers that carry credentials of their own; signatures are kept (they reveal no secret)."""

MS_THRESHOLD = 100_000_000_000
"""Integer timestamps at or above this (year 5138 in seconds, 1973 in ms) are milliseconds."""


class VerifiedRequest(NamedTuple):
    """What a successful verification established about a request.

    `event_type` comes from a header; `type_signed` says whether that header is covered by the
    signature (GitHub's `X-GitHub-Event` and Shopify's `X-Shopify-Topic` are not). Schemes whose
    provider puts the type in the body leave it None: the receiver reads it from the verified
    (signed) body. `timestamp` is Unix seconds; `secret_index` is the position of the matching
    secret in the configured list (0 = current; higher = a previous secret still in rotation).
    It is an immutable named tuple; the schemes build it with `verified_request` (one C call,
    cheaper than a dataclass `__init__`, which costs as much as a whole HMAC of a small body).
    """

    scheme: str
    event_id: str | None
    event_type: str | None
    timestamp: float | None
    type_signed: bool
    secret_index: int


verified_request: Callable[
    [tuple[str, str | None, str | None, float | None, bool, int]], VerifiedRequest
] = partial(tuple.__new__, VerifiedRequest)
"""`verified_request((scheme, event_id, event_type, timestamp, type_signed, secret_index))`."""


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` with lower-case names (non-string names are dropped)."""
    return {k.lower(): v for k, v in headers.items() if isinstance(k, str)}


def require(value: object, name: str, scheme: str) -> str:
    """Return the header `name`'s value as a str, or raise missing/malformed."""
    if value is None:
        raise VerificationError(
            FailureReason.MISSING_HEADER, f"the {name} header is missing", scheme=scheme
        )
    if not isinstance(value, str):
        raise VerificationError(
            FailureReason.MALFORMED_HEADER, f"the {name} header is not text", scheme=scheme
        )
    if not value or len(value) > MAX_HEADER_CHARS or not value.isascii():
        raise VerificationError(
            FailureReason.MALFORMED_HEADER,
            f"the {name} header is empty, longer than {MAX_HEADER_CHARS} characters or not ASCII",
            scheme=scheme,
        )
    return value


def optional_header(value: object, name: str, scheme: str) -> str | None:
    """Like `require`, but an absent header is None rather than an error."""
    return None if value is None else require(value, name, scheme)


def parse_timestamp(
    value: object, name: str, scheme: str, *, allow_ms: bool = False
) -> tuple[str, float]:
    """Check a timestamp header and return (its text, Unix seconds).

    Only ASCII digits are accepted (no sign, spaces, fraction or exponent). With `allow_ms`,
    values of 10^11 and above are read as milliseconds.
    """
    if value is None:
        raise VerificationError(
            FailureReason.MISSING_HEADER, f"the {name} header is missing", scheme=scheme
        )
    if not isinstance(value, str):
        raise VerificationError(
            FailureReason.MALFORMED_HEADER, f"the {name} header is not text", scheme=scheme
        )
    if not (value.isdigit() and value.isascii() and len(value) <= 16):
        raise VerificationError(
            FailureReason.INVALID_TIMESTAMP,
            f"the {name} header must be an integer Unix time, got {value[:32]!r}",
            scheme=scheme,
        )
    seconds = int(value)
    if allow_ms and seconds >= MS_THRESHOLD:
        return value, seconds / 1000.0
    return value, float(seconds)


def check_window(timestamp: float, now: float, tolerance_s: float, scheme: str) -> None:
    """Raise stale/future when `timestamp` is more than `tolerance_s` away from `now`."""
    if not now - tolerance_s <= timestamp <= now + tolerance_s:
        raise window_error(timestamp, now, tolerance_s, scheme)


def window_error(
    timestamp: float, now: float, tolerance_s: float, scheme: str
) -> VerificationError:
    """The stale or future error for a timestamp outside the window."""
    if timestamp < now - tolerance_s:
        return VerificationError(
            FailureReason.STALE_TIMESTAMP,
            f"the request was signed {now - timestamp:.0f} s ago, beyond the {tolerance_s:g} s "
            "tolerance (a replay, or a delivery delayed too long)",
            scheme=scheme,
        )
    return VerificationError(
        FailureReason.FUTURE_TIMESTAMP,
        f"the request is dated {timestamp - now:.0f} s in the future, beyond the "
        f"{tolerance_s:g} s tolerance (check the sender's and this host's clocks)",
        scheme=scheme,
    )


def check_tolerance(tolerance_s: float) -> None:
    """Reject a negative or non-finite tolerance (a configuration error, not bad input)."""
    if not 0 <= tolerance_s < math.inf:
        raise bad_tolerance(tolerance_s)


def bad_tolerance(tolerance_s: float) -> ValueError:
    """The error for a tolerance that is negative, infinite or NaN."""
    return ValueError(f"tolerance_s must be a finite number >= 0, got {tolerance_s!r}")


def no_secret(scheme: str, detail: str = "no secret is configured") -> VerificationError:
    """The fail-closed error for a scheme with no usable secret."""
    return VerificationError(
        FailureReason.NO_SECRET,
        f"{detail}; every request is refused until a secret is set",
        scheme=scheme,
    )


def bad_signature(scheme: str, header: str) -> VerificationError:
    """The error for a well-formed signature that no configured secret produces."""
    return VerificationError(
        FailureReason.BAD_SIGNATURE,
        f"the {header} signature does not match the body under any configured secret",
        scheme=scheme,
    )


def sign_time(timestamp: float | None) -> int:
    """Whole Unix seconds to sign with: the given time, or now."""
    return int(time.time() if timestamp is None else timestamp)


class Scheme(ABC):
    """A webhook signature scheme: verifies incoming requests and signs outgoing ones."""

    name: ClassVar[str]
    headers_to_redact: frozenset[str] = DEFAULT_REDACT
    signs_timestamp: bool = True
    type_fields: tuple[str, ...] = ("type",)
    """Body fields that hold the event type, in order (an endpoint may name its own)."""

    @abstractmethod
    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[SecretLike],
        *,
        now: float,
        tolerance_s: float = 300,
    ) -> VerifiedRequest:
        """Check `body` and `headers` against `secrets`; raise VerificationError on any failure."""

    @abstractmethod
    def sign(
        self,
        body: bytes,
        secret: SecretLike,
        *,
        timestamp: float | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> dict[str, str]:
        """The headers the provider would send with `body` (for tests, the CLI, fake providers)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def find_match(
    cache: KeyCache,
    secrets: Sequence[SecretLike],
    prefix: bytes,
    body: bytes,
    candidates: Sequence[str],
    base64: bool,
    scheme: str,
    header: str,
) -> int:
    """Index of the first secret whose HMAC of `prefix + body` equals a candidate.

    Candidates are ASCII strings in the provider's encoding (lower-case hex, or padded base64),
    compared with `hmac.compare_digest`. Base64 candidates are decoded once (strictly; one that
    does not decode matches nothing) and compared as digest bytes, so no digest is ever encoded.
    The body is fed to the hash as is (never copied or decoded). Unusable secrets are skipped;
    if none is usable the request fails with `no_secret`.
    """
    wanted: Sequence[str | bytes] = _decoded(candidates) if base64 else candidates
    if len(wanted) == 1:
        index = match_one(cache, secrets, prefix, body, wanted[0], base64)
    else:
        index = _match_any(cache, secrets, prefix, body, wanted, base64)
    if index < 0:
        raise _no_match(index, scheme, header)
    return index


def match_one(
    cache: KeyCache,
    secrets: Sequence[SecretLike],
    prefix: bytes,
    body: bytes,
    candidate: str | bytes,
    raw: bool,
) -> int:
    """Index of the first secret whose HMAC matches the one `candidate`, else NO_MATCH/NO_KEY.

    `candidate` is lower-case hex text, or (with `raw`) the digest bytes. The key lookup and the
    HMAC are inlined: this is the hot path of every scheme, kept to the fewest operations.
    """
    entries = cache.entries
    usable = False
    index = 0  # a plain counter: cheaper than enumerate() for the usual one or two secrets
    for secret in secrets:
        entry = entries.get(id(secret))
        if entry is None or entry[0] is not secret:
            entry = cache.entry(secret)
        new_inner = entry[2]
        if new_inner is not None:
            usable = True
            inner = new_inner()
            inner.update(prefix)
            inner.update(body)
            outer = entry[3]()
            outer.update(inner.digest())
            if _compare(outer.digest() if raw else outer.hexdigest(), candidate):
                return index
        index += 1  # noqa: SIM113 (see above)
    return NO_MATCH if usable else NO_KEY


def _match_any(
    cache: KeyCache,
    secrets: Sequence[SecretLike],
    prefix: bytes,
    body: bytes,
    candidates: Sequence[str | bytes],
    raw: bool,
) -> int:
    """Like `match_one`, for several candidates (a sender rotating its secret)."""
    usable = False
    for index, secret in enumerate(secrets):
        key = cache.get(secret)
        if key is not None:
            usable = True
            expected = key.digest(prefix, body) if raw else key.hexdigest(prefix, body)
            for candidate in candidates:
                if _compare(expected, candidate):
                    return index
    return NO_MATCH if usable else NO_KEY


NO_MATCH = -1
"""`match_one` result: a secret was usable, but none produced the signature."""

NO_KEY = -2
"""`match_one` result: no configured secret was usable (empty or invalid)."""


_compare: Callable[[str | bytes, str | bytes], bool] = compare_digest
"""`hmac.compare_digest`; the callers always pass two str (hex) or two bytes (raw digests)."""


def _decoded(candidates: Sequence[str]) -> list[bytes]:
    """Base64 candidates as digest bytes; one that does not strictly decode matches nothing."""
    out: list[bytes] = []
    for candidate in candidates:
        try:
            out.append(a2b_base64(candidate, strict_mode=True))
        except (BinasciiError, ValueError):
            out.append(b"")  # compares unequal to every digest
    return out


def no_match(index: int, scheme: str, header: str) -> VerificationError:
    """The error for a `match_one` result below zero (NO_MATCH or NO_KEY)."""
    return _no_match(index, scheme, header)


def _no_match(index: int, scheme: str, header: str) -> VerificationError:
    if index == NO_KEY:
        return no_secret(scheme, "none of the configured secrets is usable (empty or invalid)")
    return bad_signature(scheme, header)


def malformed(scheme: str, message: str) -> VerificationError:
    """A malformed-header error with `message`."""
    return VerificationError(FailureReason.MALFORMED_HEADER, message, scheme=scheme)
