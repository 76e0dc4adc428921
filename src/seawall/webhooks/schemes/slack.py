"""Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">`, timestamp header beside it.

Slack sends no event id header (ids such as `event_id` are in the signed body), so the receiver
takes id and type from the body. Events API bodies are JSON with a `type`; interactivity posts a
form whose `payload` field is a JSON object with a `type` (`block_actions`, `view_submission`);
slash commands post plain form fields with no type, so their `command` (`/weather`) is the type:
route them with `@on("/weather", source=...)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import inf

from seawall.webhooks.schemes.base import (
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

__all__ = ["SlackScheme"]

_SIG = "x-slack-signature"
_TS = "x-slack-request-timestamp"


class SlackScheme(Scheme):
    """Slack's v0 request signing with its timestamp window."""

    name = "slack"
    type_fields = ("type", "command")
    """`type` (Events API, interactivity), else a slash command's `command` (`/weather`)."""

    def __init__(self) -> None:
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
        """Verify `X-Slack-Signature` over `v0:{timestamp}:{raw body}`."""
        name = self.name
        if not secrets:
            raise no_secret(name)
        if not 0 <= tolerance_s < inf:
            raise bad_tolerance(tolerance_s)
        signature = headers.get(_SIG)
        ts_text = headers.get(_TS)
        if signature is None or ts_text is None:
            low = lowered(headers)
            signature, ts_text = low.get(_SIG), low.get(_TS)
        if not (
            type(signature) is str
            and type(ts_text) is str
            and len(signature) == 67
            and signature.startswith("v0=")
            and signature.isascii()
            and 0 < len(ts_text) <= 16
            and ts_text.isdigit()
            and ts_text.isascii()
        ):
            raise self._reject(signature, ts_text)
        timestamp = float(ts_text)  # ASCII digits only: the same value as float(int(...))
        if not now - tolerance_s <= timestamp <= now + tolerance_s:
            raise window_error(timestamp, now, tolerance_s, name)
        index = match_one(
            self._keys, secrets, f"v0:{ts_text}:".encode(), body, signature[3:].lower(), False
        )
        if index < 0:
            raise no_match(index, name, "X-Slack-Signature")
        return verified_request((name, None, None, timestamp, False, index))

    def _reject(self, signature: object, ts_text: object) -> VerificationError:
        """The precise error for headers that failed the fast guard."""
        require(signature, "X-Slack-Signature", self.name)
        parse_timestamp(ts_text, "X-Slack-Request-Timestamp", self.name)
        return malformed(self.name, "X-Slack-Signature must be 'v0=' and 64 hex digits")

    def sign(
        self,
        body: bytes,
        secret: SecretLike,
        *,
        timestamp: float | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> dict[str, str]:
        """`X-Slack-Request-Timestamp` and `X-Slack-Signature`; id and type are in the body."""
        key = self._keys.get(secret)
        if key is None:
            raise ValueError("cannot sign with an empty secret")
        ts = str(sign_time(timestamp))
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + key.hexdigest(b"v0:" + ts.encode() + b":", body),
        }
