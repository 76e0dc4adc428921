"""GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.

GitHub signs no timestamp, so there is no window: replay protection is the receiver's dedup on
`X-GitHub-Delivery` (the event id). The event type comes from `X-GitHub-Event`, which is NOT
covered by the signature (`type_signed` is False); a handler that must trust the type should
check it against the signed body. The legacy SHA-1 `X-Hub-Signature` is not accepted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from math import inf

from seawall.webhooks.schemes.base import (
    Scheme,
    VerifiedRequest,
    bad_tolerance,
    lowered,
    malformed,
    match_one,
    no_match,
    no_secret,
    optional_header,
    require,
    verified_request,
)
from seawall.webhooks.schemes.keys import KeyCache, SecretLike, utf8_deriver

__all__ = ["GitHubScheme"]

_SIG = "x-hub-signature-256"
_DELIVERY = "x-github-delivery"
_EVENT = "x-github-event"


class GitHubScheme(Scheme):
    """GitHub's body-only SHA-256 signature, with the delivery id and (unsigned) event name."""

    name = "github"
    signs_timestamp = False

    def __init__(self) -> None:
        self._keys = KeyCache(utf8_deriver("sha256"))
        self._sha1 = KeyCache(utf8_deriver("sha1"))

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[SecretLike],
        *,
        now: float,
        tolerance_s: float = 300,
    ) -> VerifiedRequest:
        """Verify `X-Hub-Signature-256` over the raw body (no timestamp to check)."""
        name = self.name
        if not secrets:
            raise no_secret(name)
        if not 0 <= tolerance_s < inf:
            raise bad_tolerance(tolerance_s)
        signature = headers.get(_SIG)
        delivery = headers.get(_DELIVERY)
        event = headers.get(_EVENT)
        if signature is None or delivery is None or event is None:
            low = lowered(headers)
            signature, delivery, event = low.get(_SIG), low.get(_DELIVERY), low.get(_EVENT)
        if not (
            type(signature) is str
            and len(signature) == 71
            and signature.startswith("sha256=")
            and signature.isascii()
        ):
            require(signature, "X-Hub-Signature-256", name)
            raise malformed(name, "X-Hub-Signature-256 must be 'sha256=' and 64 hex digits")
        if not (
            (delivery is None or (type(delivery) is str and len(delivery) <= 200))
            and (event is None or (type(event) is str and len(event) <= 200))
        ):
            optional_header(delivery, "X-GitHub-Delivery", name)
            optional_header(event, "X-GitHub-Event", name)
            raise malformed(
                name, "X-GitHub-Delivery and X-GitHub-Event must be under 200 characters"
            )
        event_id, event_type = delivery, event
        index = match_one(self._keys, secrets, b"", body, signature[7:].lower(), False)
        if index < 0:
            raise no_match(index, name, "X-Hub-Signature-256")
        return verified_request((name, event_id, event_type, None, False, index))

    def sign(
        self,
        body: bytes,
        secret: SecretLike,
        *,
        timestamp: float | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> dict[str, str]:
        """GitHub's headers: both signatures, the delivery id, and the event name when given."""
        key, legacy = self._keys.get(secret), self._sha1.get(secret)
        if key is None or legacy is None:
            raise ValueError("cannot sign with an empty secret")
        headers = {
            "X-GitHub-Delivery": event_id or str(uuid.uuid4()),
            "X-Hub-Signature": "sha1=" + legacy.hexdigest(body),
            "X-Hub-Signature-256": "sha256=" + key.hexdigest(body),
        }
        if event_type is not None:
            headers["X-GitHub-Event"] = event_type
        return headers
