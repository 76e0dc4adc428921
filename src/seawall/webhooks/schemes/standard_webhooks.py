"""Standard Webhooks v1 (and Svix): `webhook-id`, `webhook-timestamp`, `webhook-signature`.

The signed content is `f"{id}.{timestamp}.{body}"`, HMAC-SHA256, base64; the signature header
holds space-separated `v1,<base64>` entries (other versions, e.g. `v1a` asymmetric, are
ignored). Secrets are `whsec_`-prefixed base64 strings (the prefix is optional), or raw key
bytes; a secret that is not valid base64 is unusable and skipped. `svix-*` headers are accepted
when the `webhook-*` ones are absent. The id is signed, so `event_id` is trustworthy; the event
type lives in the signed body.
"""

from __future__ import annotations

import binascii
import uuid
from collections.abc import Mapping, Sequence
from hmac import compare_digest
from math import inf

from seawall.webhooks.schemes.base import (
    MAX_HEADER_CHARS,
    NO_MATCH,
    Scheme,
    VerificationError,
    VerifiedRequest,
    bad_tolerance,
    find_match,
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
from seawall.webhooks.schemes.keys import HmacKey, KeyCache, SecretLike, secret_text_or_bytes

__all__ = ["StandardWebhooksScheme", "decode_secret"]

_PREFIX = "whsec_"


def decode_secret(secret: SecretLike) -> bytes:
    """The key bytes of a Standard Webhooks secret (`whsec_<base64>`, bare base64, or raw bytes)."""
    raw = secret_text_or_bytes(secret)
    if isinstance(raw, bytes):
        return raw
    text = raw.removeprefix(_PREFIX)
    text += "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("a Standard Webhooks secret must be base64 after 'whsec_'") from exc


def _derive(secret: SecretLike) -> HmacKey | None:
    try:
        key = decode_secret(secret)
    except ValueError:
        return None
    return HmacKey(key) if key else None


class StandardWebhooksScheme(Scheme):
    """Standard Webhooks v1 signatures, with Svix's `svix-*` header names accepted too."""

    name = "standard-webhooks"

    def __init__(self, *, header_prefix: str = "webhook") -> None:
        if header_prefix not in ("webhook", "svix"):
            raise ValueError("header_prefix must be 'webhook' or 'svix'")
        self.header_prefix = header_prefix
        self._keys = KeyCache(_derive)

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[SecretLike],
        *,
        now: float,
        tolerance_s: float = 300,
    ) -> VerifiedRequest:
        """Verify `webhook-*` (or `svix-*`) headers over the raw body."""
        name = self.name
        if not secrets:
            raise no_secret(name)
        if not 0 <= tolerance_s < inf:
            raise bad_tolerance(tolerance_s)
        family = "webhook"
        get = headers.get
        msg_id = get("webhook-id")
        ts_text = get("webhook-timestamp")
        signature = get("webhook-signature")
        if msg_id is None or ts_text is None or signature is None:
            low = lowered(headers)
            if "webhook-signature" not in low and "svix-signature" in low:
                family = "svix"
            msg_id = low.get(family + "-id")
            ts_text = low.get(family + "-timestamp")
            signature = low.get(family + "-signature")
        if not (
            type(signature) is str
            and type(msg_id) is str
            and type(ts_text) is str
            and 0 < len(signature) <= MAX_HEADER_CHARS
            and 0 < len(msg_id) <= MAX_HEADER_CHARS
            and 0 < len(ts_text) <= 16
            and ts_text.isdigit()
            and ts_text.isascii()
            and signature.isascii()
            and msg_id.isascii()
        ):
            raise self._reject(family, signature, msg_id, ts_text)
        timestamp = float(ts_text)  # ASCII digits only: the same value as float(int(...))
        if not now - tolerance_s <= timestamp <= now + tolerance_s:
            raise window_error(timestamp, now, tolerance_s, name)
        prefix = f"{msg_id}.{ts_text}.".encode()
        if " " not in signature and signature.startswith("v1,") and len(signature) > 3:
            # One signature, the usual case: decode it once and compare digest bytes.
            try:
                digest = binascii.a2b_base64(signature[3:], strict_mode=True)
            except (binascii.Error, ValueError):
                digest = b""  # matches nothing: a bad signature, as before
            if len(secrets) == 1:
                # One secret, the usual case: the HMAC inline (see `match_one`).
                secret = secrets[0]
                entry = self._keys.entries.get(id(secret))
                if entry is not None and entry[0] is secret and entry[2] is not None:
                    inner = entry[2]()
                    inner.update(prefix)
                    inner.update(body)
                    outer = entry[3]()
                    outer.update(inner.digest())
                    if compare_digest(outer.digest(), digest):
                        return verified_request((name, msg_id, None, timestamp, False, 0))
                    raise no_match(NO_MATCH, name, family + "-signature")
            index = match_one(self._keys, secrets, prefix, body, digest, True)
            if index < 0:
                raise no_match(index, name, family + "-signature")
            return verified_request((name, msg_id, None, timestamp, False, index))
        # Several signatures (the sender is rotating its secret), or none usable.
        candidates = [e[3:] for e in signature.split(" ") if e.startswith("v1,") and len(e) > 3]
        if not candidates:
            raise malformed(name, f"the {family}-signature header holds no 'v1,<base64>' entry")
        index = find_match(
            self._keys, secrets, prefix, body, candidates, True, name, family + "-signature"
        )
        return verified_request((name, msg_id, None, timestamp, False, index))

    def _reject(
        self, family: str, signature: object, msg_id: object, ts_text: object
    ) -> VerificationError:
        """The precise error for headers that failed the fast guard."""
        require(signature, family + "-signature", self.name)
        require(msg_id, family + "-id", self.name)
        parse_timestamp(ts_text, family + "-timestamp", self.name)
        return malformed(self.name, f"the {family}-* headers are malformed")

    def sign(
        self,
        body: bytes,
        secret: SecretLike,
        *,
        timestamp: float | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> dict[str, str]:
        """The three `webhook-*` (or `svix-*`) headers; the type belongs in the body."""
        key = _derive(secret)
        if key is None:
            raise ValueError("cannot sign with an empty or non-base64 Standard Webhooks secret")
        msg_id = event_id or f"msg_{uuid.uuid4().hex}"
        ts = str(sign_time(timestamp))
        family = self.header_prefix
        return {
            f"{family}-id": msg_id,
            f"{family}-timestamp": ts,
            f"{family}-signature": "v1," + key.b64digest(f"{msg_id}.{ts}.".encode(), body),
        }
