"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` over `f"{t}.{body}"`.

Unlike Standard Webhooks, Stripe keys the HMAC with the endpoint secret's UTF-8 bytes exactly
as given (`whsec_...` included, nothing decoded). Several `v1` entries appear while Stripe rolls
a secret; any may match. `v0` (test-mode legacy) entries are ignored. The event id and type are
in the signed body, so the receiver takes them from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import inf

from seawall.webhooks.schemes.base import (
    MAX_HEADER_CHARS,
    Scheme,
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
from seawall.webhooks.schemes.keys import KeyCache, SecretLike, utf8_deriver

__all__ = ["StripeScheme"]

_HEADER = "stripe-signature"


class StripeScheme(Scheme):
    """Stripe's `Stripe-Signature`, window bounded both ways (Stripe's own is one-sided)."""

    name = "stripe"

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
        """Verify `Stripe-Signature` over the raw body."""
        name = self.name
        if not secrets:
            raise no_secret(name)
        if not 0 <= tolerance_s < inf:
            raise bad_tolerance(tolerance_s)
        header = headers.get(_HEADER)
        if header is None:
            header = lowered(headers).get(_HEADER)
        if not (type(header) is str and 0 < len(header) <= MAX_HEADER_CHARS and header.isascii()):
            header = require(header, "Stripe-Signature", name)
        comma = len(header) - 68
        ts_text = header[2:comma]
        if (
            2 < comma <= 18
            and header.startswith(",v1=", comma)
            and header.startswith("t=")
            and ts_text.isdigit()
        ):
            # The common shape: one timestamp, one v1 signature (64 hex digits at the end).
            timestamp = float(ts_text)  # ASCII digits only: the same value as float(int(...))
            if not now - tolerance_s <= timestamp <= now + tolerance_s:
                raise window_error(timestamp, now, tolerance_s, name)
            index = match_one(
                self._keys, secrets, (ts_text + ".").encode(), body, header[-64:].lower(), False
            )
            if index < 0:
                raise no_match(index, name, "Stripe-Signature")
            return verified_request((name, None, None, timestamp, False, index))
        ts_text, candidates = self._parse(header)
        if not (0 < len(ts_text) <= 16 and ts_text.isdigit()):
            parse_timestamp(ts_text, "Stripe-Signature t", name)
        timestamp = float(ts_text)
        if not now - tolerance_s <= timestamp <= now + tolerance_s:
            raise window_error(timestamp, now, tolerance_s, name)
        index = find_match(
            self._keys,
            secrets,
            (ts_text + ".").encode(),
            body,
            candidates,
            False,
            name,
            "Stripe-Signature",
        )
        return verified_request((name, None, None, timestamp, False, index))

    def _parse(self, header: str) -> tuple[str, list[str]]:
        """The general parse: `t` once, any number of `v1`, other elements ignored."""
        ts_text: str | None = None
        candidates = []
        for item in header.split(","):
            key, _, value = item.partition("=")
            if key == "v1":
                candidates.append(value.lower())
            elif key == "t":
                if ts_text is not None:
                    raise malformed(self.name, "Stripe-Signature carries more than one t=")
                ts_text = value
        if ts_text is None:
            raise malformed(self.name, "Stripe-Signature has no t=<timestamp> element")
        if not candidates:
            raise malformed(self.name, "Stripe-Signature has no v1=<signature> element")
        return ts_text, candidates

    def sign(
        self,
        body: bytes,
        secret: SecretLike,
        *,
        timestamp: float | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> dict[str, str]:
        """`Stripe-Signature: t=...,v1=...`; Stripe's id and type live in the body."""
        key = self._keys.get(secret)
        if key is None:
            raise ValueError("cannot sign with an empty secret")
        ts = str(sign_time(timestamp))
        return {"Stripe-Signature": f"t={ts},v1={key.hexdigest(ts.encode() + b'.', body)}"}
