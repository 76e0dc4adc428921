"""Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, id in `X-Shopify-Webhook-Id`.

Shopify signs no timestamp (its `X-Shopify-Triggered-At` is unsigned), so replay protection is
the receiver's dedup on the webhook id. `X-Shopify-Topic` gives the event type and is NOT
covered by the signature (`type_signed` is False).
"""

from __future__ import annotations

import uuid
from binascii import Error as BinasciiError
from binascii import a2b_base64
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

__all__ = ["ShopifyScheme"]

_SIG = "x-shopify-hmac-sha256"
_ID = "x-shopify-webhook-id"
_TOPIC = "x-shopify-topic"


class ShopifyScheme(Scheme):
    """Shopify's base64 body signature, with its webhook id and (unsigned) topic."""

    name = "shopify"
    signs_timestamp = False

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
        """Verify `X-Shopify-Hmac-Sha256` over the raw body (no timestamp to check)."""
        name = self.name
        if not secrets:
            raise no_secret(name)
        if not 0 <= tolerance_s < inf:
            raise bad_tolerance(tolerance_s)
        signature = headers.get(_SIG)
        webhook_id = headers.get(_ID)
        topic = headers.get(_TOPIC)
        if signature is None or webhook_id is None or topic is None:
            low = lowered(headers)
            signature, webhook_id, topic = low.get(_SIG), low.get(_ID), low.get(_TOPIC)
        if not (type(signature) is str and len(signature) == 44 and signature.isascii()):
            require(signature, "X-Shopify-Hmac-Sha256", name)
            raise malformed(name, "X-Shopify-Hmac-Sha256 must be 44 base64 characters")
        if not (
            (webhook_id is None or (type(webhook_id) is str and len(webhook_id) <= 200))
            and (topic is None or (type(topic) is str and len(topic) <= 200))
        ):
            optional_header(webhook_id, "X-Shopify-Webhook-Id", name)
            optional_header(topic, "X-Shopify-Topic", name)
            raise malformed(name, "X-Shopify-Webhook-Id and X-Shopify-Topic must be short")
        event_id, event_type = webhook_id, topic
        try:
            digest = a2b_base64(signature, strict_mode=True)
        except (BinasciiError, ValueError):
            digest = b""  # matches nothing: a bad signature, as before
        index = match_one(self._keys, secrets, b"", body, digest, True)
        if index < 0:
            raise no_match(index, name, "X-Shopify-Hmac-Sha256")
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
        """Shopify's signature and webhook id, and the topic when given."""
        key = self._keys.get(secret)
        if key is None:
            raise ValueError("cannot sign with an empty secret")
        headers = {
            "X-Shopify-Hmac-Sha256": key.b64digest(body),
            "X-Shopify-Webhook-Id": event_id or str(uuid.uuid4()),
        }
        if event_type is not None:
            headers["X-Shopify-Topic"] = event_type
        return headers
