"""A configurable HMAC scheme for the long tail of providers.

Configured by: `header` (where the signature is), `algorithm` (sha256, sha512, sha1),
`encoding` (hex, base64), `prefix` (e.g. `"sha256="`), and `template`, the signed string with
the placeholders `{body}` (required, exactly once), `{timestamp}` and `{id}` (the raw header
texts from `timestamp_header` and `id_header`); `{{` and `}}` are literal braces. When a
`timestamp_header` is configured its value must lie within the window; `timestamp_unit` says
whether it is seconds, milliseconds or `auto` (10^11 and above are milliseconds). An optional
`type_header` gives an event type that is NOT signed. Configuration errors raise ValueError at
construction, never at verification. Hex is compared case-insensitively; base64 padding is
optional.
"""

from __future__ import annotations

import math
import string
import uuid
from binascii import Error as BinasciiError
from binascii import a2b_base64
from collections.abc import Mapping, Sequence
from math import inf

from seawall.webhooks.schemes.base import (
    MAX_HEADER_CHARS,
    MS_THRESHOLD,
    Scheme,
    VerifiedRequest,
    bad_tolerance,
    lowered,
    malformed,
    match_one,
    no_match,
    no_secret,
    optional_header,
    parse_timestamp,
    require,
    sign_time,
    verified_request,
    window_error,
)
from seawall.webhooks.schemes.keys import ALGORITHMS, HmacKey, KeyCache, SecretLike, utf8_deriver

__all__ = ["GenericHmacScheme"]

_FIELDS = ("body", "timestamp", "id")


def _compile(template: str) -> list[tuple[str, str]]:
    """Split a template into ("text", literal) and ("field", name) pieces."""
    pieces: list[tuple[str, str]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"template {template!r} is not valid: {exc}") from None
    for literal, field, spec, conversion in parsed:
        if literal:
            pieces.append(("text", literal))
        if field is None:
            continue
        if field not in _FIELDS or spec or conversion:
            raise ValueError(
                f"template {template!r} uses {{{field}}}; only {{body}}, {{timestamp}} and {{id}}"
            )
        pieces.append(("field", field))
    if [p for p in pieces if p == ("field", "body")] != [("field", "body")]:
        raise ValueError(f"template {template!r} must contain {{body}} exactly once")
    return pieces


def _formats(pieces: list[tuple[str, str]]) -> tuple[str | None, bytes]:
    """A positional format string for `pieces` ({0} timestamp, {1} id), or None and the bytes."""
    if not any(kind == "field" for kind, _ in pieces):
        return None, "".join(value for _, value in pieces).encode()
    fmt = "".join(
        value.replace("{", "{{").replace("}", "}}")
        if kind == "text"
        else ("{0}" if value == "timestamp" else "{1}")
        for kind, value in pieces
    )
    return fmt, b""


class GenericHmacScheme(Scheme):
    """An HMAC signature described by configuration instead of code."""

    name = "generic-hmac"

    def __init__(
        self,
        *,
        header: str,
        algorithm: str = "sha256",
        encoding: str = "hex",
        prefix: str = "",
        template: str = "{body}",
        timestamp_header: str | None = None,
        timestamp_unit: str = "auto",
        id_header: str | None = None,
        type_header: str | None = None,
    ) -> None:
        if not header:
            raise ValueError("generic-hmac needs the name of the signature header")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        if encoding not in ("hex", "base64"):
            raise ValueError(f"encoding must be 'hex' or 'base64', got {encoding!r}")
        if timestamp_unit not in ("s", "ms", "auto"):
            raise ValueError(f"timestamp_unit must be 's', 'ms' or 'auto', got {timestamp_unit!r}")
        self.pieces = _compile(template)
        split = self.pieces.index(("field", "body"))
        self._before, self._after = self.pieces[:split], self.pieces[split + 1 :]
        # The template is pre-rendered into two positional format strings ({0} = timestamp text,
        # {1} = id text), one for the text before the body and one after it, so a verification
        # renders each with a single str.format call; a part without fields is constant bytes.
        self._before_fmt, self._before_const = _formats(self._before)
        # The most common shape, "{timestamp}<text>{body}", renders by concatenation alone.
        self._ts_then: str | None = (
            self._before[1][1]
            if len(self._before) == 2
            and self._before[0] == ("field", "timestamp")
            and self._before[1][0] == "text"
            else None
        )
        self._after_fmt, self._after_const = _formats(self._after)
        self._has_after = self._after_fmt is not None or bool(self._after_const)
        fields = {value for kind, value in self.pieces if kind == "field"}
        if "timestamp" in fields and not timestamp_header:
            raise ValueError("the template signs {timestamp}: set timestamp_header")
        if "id" in fields and not id_header:
            raise ValueError("the template signs {id}: set id_header")
        self.header = header.lower()
        self.algorithm = algorithm
        self.encoding = encoding
        self.prefix = prefix
        self.template = template
        self.timestamp_header = timestamp_header.lower() if timestamp_header else None
        self.timestamp_unit = timestamp_unit
        self.id_header = id_header.lower() if id_header else None
        self.type_header = type_header.lower() if type_header else None
        self.signs_timestamp = "timestamp" in fields
        self._keys = KeyCache(utf8_deriver(algorithm))
        digest_size = HmacKey(b"k", algorithm).digest_size
        self._hex = encoding == "hex"
        # Integer timestamps at or above this are milliseconds (0: always; never for seconds).
        self._ms_from = {"ms": 0, "auto": MS_THRESHOLD, "s": math.inf}[timestamp_unit]
        self._length = digest_size * 2 if encoding == "hex" else (digest_size + 2) // 3 * 4

    def _signed(self, body: bytes, timestamp: str, msg_id: str) -> tuple[bytes, bytes]:
        """The signed string as (text before the body, body and the text after it)."""
        fmt = self._before_fmt
        before = self._before_const if fmt is None else fmt.format(timestamp, msg_id).encode()
        fmt = self._after_fmt
        if fmt is not None:
            body = body + fmt.format(timestamp, msg_id).encode()
        elif self._after_const:
            body = body + self._after_const
        return before, body

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[SecretLike],
        *,
        now: float,
        tolerance_s: float = 300,
    ) -> VerifiedRequest:
        """Verify the configured signature header over the configured signed string."""
        name = self.name
        if not secrets:
            raise no_secret(name)
        if not 0 <= tolerance_s < inf:
            raise bad_tolerance(tolerance_s)
        sig_h, ts_h, id_h, type_h = (
            self.header,
            self.timestamp_header,
            self.id_header,
            self.type_header,
        )
        get = headers.get
        signature = get(sig_h)
        ts_value = get(ts_h) if ts_h else None
        id_value = get(id_h) if id_h else None
        type_value = get(type_h) if type_h else None
        if (
            signature is None
            or (ts_h and ts_value is None)
            or (id_h and id_value is None)
            or (type_h and type_value is None)
        ):
            low = lowered(headers)
            signature = low.get(sig_h)
            ts_value = low.get(ts_h) if ts_h else None
            id_value = low.get(id_h) if id_h else None
            type_value = low.get(type_h) if type_h else None
        if not (
            type(signature) is str
            and 0 < len(signature) <= MAX_HEADER_CHARS
            and signature.isascii()
        ):
            signature = require(signature, sig_h, name)
        ts_text = msg_id = ""
        timestamp: float | None = None
        if ts_h:
            if (
                type(ts_value) is str
                and 0 < len(ts_value) <= 16
                and ts_value.isdigit()
                and ts_value.isascii()
            ):
                ts_text = ts_value
                timestamp = float(ts_value)  # digits only: the same value as float(int(...))
                if timestamp >= self._ms_from:
                    timestamp /= 1000.0
            else:
                ts_text, timestamp = parse_timestamp(
                    ts_value, ts_h, name, allow_ms=self.timestamp_unit == "auto"
                )
                if self.timestamp_unit == "ms":
                    timestamp /= 1000.0
            if not now - tolerance_s <= timestamp <= now + tolerance_s:
                raise window_error(timestamp, now, tolerance_s, name)
        if id_h:
            msg_id = require(id_value, id_h, name)
        event_type = optional_header(type_value, type_h, name) if type_h else None
        prefix = self.prefix
        if prefix and not signature.startswith(prefix):
            raise malformed(name, f"the {sig_h} header must start with {prefix!r}")
        encoded = signature[len(prefix) :] if prefix else signature
        hex_digest = self._hex
        if hex_digest:
            encoded = encoded.lower()
        elif len(encoded) % 4:
            encoded += "=" * (-len(encoded) % 4)
        if len(encoded) != self._length:
            raise malformed(
                name, f"the {sig_h} header must hold a {self.algorithm} {self.encoding} digest"
            )
        if hex_digest:
            candidate: str | bytes = encoded
        else:
            try:
                candidate = a2b_base64(encoded, strict_mode=True)
            except (BinasciiError, ValueError):
                candidate = b""  # matches nothing: a bad signature
        then = self._ts_then
        if then is not None:
            before = (ts_text + then).encode()
        elif (fmt := self._before_fmt) is not None:
            before = fmt.format(ts_text, msg_id).encode()
        else:
            before = self._before_const
        if self._has_after:
            before, body = self._signed(body, ts_text, msg_id)
        index = match_one(self._keys, secrets, before, body, candidate, not hex_digest)
        if index < 0:
            raise no_match(index, name, sig_h)
        return verified_request((name, msg_id or None, event_type, timestamp, False, index))

    def sign(
        self,
        body: bytes,
        secret: SecretLike,
        *,
        timestamp: float | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> dict[str, str]:
        """The configured headers: signature, and timestamp/id/type when configured."""
        key = self._keys.get(secret)
        if key is None:
            raise ValueError("cannot sign with an empty secret")
        headers: dict[str, str] = {}
        ts_text = msg_id = ""
        if self.timestamp_header:
            seconds = sign_time(timestamp)
            ts_text = str(seconds * 1000 if self.timestamp_unit == "ms" else seconds)
            headers[self.timestamp_header] = ts_text
        if self.id_header:
            msg_id = event_id or str(uuid.uuid4())
            headers[self.id_header] = msg_id
        if self.type_header and event_type is not None:
            headers[self.type_header] = event_type
        parts = self._signed(body, ts_text, msg_id)
        digest = key.hexdigest(*parts) if self.encoding == "hex" else key.b64digest(*parts)
        headers[self.header] = self.prefix + digest
        return headers

    def __repr__(self) -> str:
        return (
            f"GenericHmacScheme(header={self.header!r}, algorithm={self.algorithm!r}, "
            f"encoding={self.encoding!r}, prefix={self.prefix!r}, template={self.template!r})"
        )
