"""The guide's scheme: hex HMAC-SHA256 of `"{x-timestamp}.{raw body}"` in `x-signature`.

Timestamp unit: `x-timestamp` is an integer Unix time. Values of 10^11 or more are read as
milliseconds (JavaScript's `Date.now()`), smaller ones as seconds; the signed string always uses
the header text exactly as sent. `sign` writes seconds. The guide sends no event id or type
header, so those come from the body (the receiver reads them after verification): the id from
`id`, the type from the guide's `event` field (or `type` when a sender uses that instead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import inf

from seawall.webhooks.schemes.base import (
    MS_THRESHOLD,
    Scheme,
    VerificationError,
    VerifiedRequest,
    bad_tolerance,
    lowered,
    malformed,
    match_one,
    no_match,
    no_secret,
    parse_timestamp,
    require,
    sign_time,
    verified_request,
    window_error,
)
from seawall.webhooks.schemes.keys import KeyCache, SecretLike, utf8_deriver

__all__ = ["HmacTimestampScheme"]

_HEX_LEN = 64


class HmacTimestampScheme(Scheme):
    """`x-signature: hex(HMAC-SHA256(secret, f"{x-timestamp}.{body}"))` with a bounded window."""

    name = "hmac-timestamp"
    type_fields = ("event", "type")
    """The guide's payload is `{"id", "event", "data"}`; `type` is read when `event` is absent."""

    def __init__(
        self, *, signature_header: str = "x-signature", timestamp_header: str = "x-timestamp"
    ) -> None:
        self.signature_header = signature_header.lower()
        self.timestamp_header = timestamp_header.lower()
        self._keys = KeyCache(utf8_deriver("sha256"))

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[SecretLike],
        *,
        now: float,
        tolerance_s: float = 300,
    ) -> VerifiedRequest:
        """Verify the guide's `x-signature`/`x-timestamp` pair over the raw body."""
        name = self.name
        if not secrets:
            raise no_secret(name)
        if not 0 <= tolerance_s < inf:
            raise bad_tolerance(tolerance_s)
        signature = headers.get(self.signature_header)
        ts_text = headers.get(self.timestamp_header)
        if signature is None or ts_text is None:
            low = lowered(headers)
            signature = low.get(self.signature_header)
            ts_text = low.get(self.timestamp_header)
        # Fast guard; anything unusual goes to _reject, which names the exact problem.
        if not (
            type(signature) is str
            and type(ts_text) is str
            and len(signature) == _HEX_LEN
            and signature.isascii()
            and 0 < len(ts_text) <= 16
            and ts_text.isdigit()
            and ts_text.isascii()
        ):
            raise self._reject(signature, ts_text)
        timestamp = float(ts_text)  # ASCII digits only: the same value as float(int(...))
        if timestamp >= MS_THRESHOLD:
            timestamp /= 1000
        if not now - tolerance_s <= timestamp <= now + tolerance_s:
            raise window_error(timestamp, now, tolerance_s, name)
        index = match_one(
            self._keys, secrets, (ts_text + ".").encode(), body, signature.lower(), False
        )
        if index < 0:
            raise no_match(index, name, self.signature_header)
        return verified_request((name, None, None, timestamp, False, index))

    def _reject(self, signature: object, ts_text: object) -> VerificationError:
        """The precise error for headers that failed the fast guard."""
        require(signature, self.signature_header, self.name)
        parse_timestamp(ts_text, self.timestamp_header, self.name, allow_ms=True)
        return malformed(self.name, f"the {self.signature_header} header must be 64 hex digits")

    def sign(
        self,
        body: bytes,
        secret: SecretLike,
        *,
        timestamp: float | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> dict[str, str]:
        """`x-signature` and `x-timestamp` (seconds); id and type travel in the body, not here."""
        key = self._keys.get(secret)
        if key is None:
            raise ValueError("cannot sign with an empty secret")
        ts = str(sign_time(timestamp))
        return {
            self.timestamp_header: ts,
            self.signature_header: key.hexdigest(ts.encode() + b".", body),
        }
