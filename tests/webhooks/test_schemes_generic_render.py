"""generic-hmac renders every template shape exactly: checked against hmac.new on the text."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from seawall.webhooks.schemes import VerificationError, get_scheme

SECRET = "generic-render-secret"
BODY = b'{"a": "\\u00e9\\/", "z": 1}'
TS = 1_700_000_000
EVENT_ID = "evt_42"


@pytest.mark.parametrize(
    ("template", "signed"),
    [
        ("{timestamp}.{body}", b"%d." % TS + BODY),
        ("v0:{timestamp}:{body}", b"v0:%d:" % TS + BODY),
        ("{{x}}{id}|{body}|{timestamp}", b"{x}" + EVENT_ID.encode() + b"|" + BODY + b"|%d" % TS),
        ("{body}", BODY),
        ("pre-{body}-post", b"pre-" + BODY + b"-post"),
        ("{id}.{timestamp}.{body}", EVENT_ID.encode() + b".%d." % TS + BODY),
    ],
)
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_each_template_shape_signs_and_verifies_the_rendered_text(
    template: str, signed: bytes, encoding: str
) -> None:
    scheme = get_scheme(
        "generic-hmac",
        header="x-sig",
        encoding=encoding,
        template=template,
        timestamp_header="x-ts" if "{timestamp}" in template else None,
        id_header="x-id" if "{id}" in template else None,
    )
    headers = scheme.sign(BODY, SECRET, timestamp=TS, event_id=EVENT_ID)
    digest = hmac.new(SECRET.encode(), signed, hashlib.sha256).digest()
    expected = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    assert headers["x-sig"] == expected
    result = scheme.verify(BODY, headers, [SECRET], now=TS)
    assert result.secret_index == 0
    assert result.timestamp == (float(TS) if "{timestamp}" in template else None)
    with pytest.raises(VerificationError):
        scheme.verify(BODY + b" ", headers, [SECRET], now=TS)


def test_millisecond_timestamps_are_signed_as_sent_and_windowed_in_seconds() -> None:
    scheme = get_scheme(
        "generic-hmac",
        header="x-sig",
        template="{timestamp}.{body}",
        timestamp_header="x-ts",
        timestamp_unit="ms",
    )
    headers = scheme.sign(BODY, SECRET, timestamp=TS)
    assert headers["x-ts"] == str(TS * 1000)
    assert scheme.verify(BODY, headers, [SECRET], now=TS).timestamp == float(TS)
    with pytest.raises(VerificationError, match="tolerance"):
        scheme.verify(BODY, headers, [SECRET], now=TS + 301)
