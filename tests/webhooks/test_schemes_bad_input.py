"""Bad input at the scheme level: a VerificationError with the right reason, never anything else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seawall.webhooks.schemes import (
    SCHEMES,
    FailureReason,
    Scheme,
    UnknownSchemeError,
    VerificationError,
    get_scheme,
)

NOW = 1_750_000_000.0
TOL = 300.0
BODY = b'{"type":"payment.completed","id":"evt_1"}'


@dataclass
class Spec:
    """How to drive one scheme in these tests."""

    secret: str
    required: list[str]
    ts_header: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


SPECS = {
    "hmac-timestamp": Spec("guide-secret", ["x-signature", "x-timestamp"], "x-timestamp"),
    "standard-webhooks": Spec(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ["webhook-id", "webhook-timestamp", "webhook-signature"],
        "webhook-timestamp",
    ),
    "stripe": Spec("whsec_stripe", ["stripe-signature"], "stripe-signature"),
    "github": Spec("gh-secret", ["x-hub-signature-256"]),
    "slack": Spec(
        "slack-secret",
        ["x-slack-signature", "x-slack-request-timestamp"],
        "x-slack-request-timestamp",
    ),
    "shopify": Spec("shop-secret", ["x-shopify-hmac-sha256"]),
    "generic-hmac": Spec(
        "generic-secret",
        ["x-sig", "x-ts", "x-id"],
        "x-ts",
        {
            "header": "X-Sig",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "sha512=",
            "template": "{id}:{timestamp}:{body}",
            "timestamp_header": "X-Ts",
            "id_header": "X-Id",
            "type_header": "X-Type",
        },
    ),
}
SIGNATURE_HEADER = {
    "hmac-timestamp": "x-signature",
    "standard-webhooks": "webhook-signature",
    "stripe": "stripe-signature",
    "github": "x-hub-signature-256",
    "slack": "x-slack-signature",
    "shopify": "x-shopify-hmac-sha256",
    "generic-hmac": "x-sig",
}
NAMES = sorted(SPECS)
TIMESTAMPED = [n for n in NAMES if SPECS[n].ts_header]
assert set(NAMES) == set(SCHEMES)


def scheme_for(name: str) -> Scheme:
    return get_scheme(name, **SPECS[name].options)


def signed(name: str, body: bytes = BODY, at: float = NOW) -> dict[str, str]:
    """Lower-cased headers of a correctly signed request."""
    headers = scheme_for(name).sign(body, SPECS[name].secret, timestamp=at, event_id="evt_1")
    return {k.lower(): v for k, v in headers.items()}


def reason(
    name: str, body: bytes, headers: Mapping[str, Any], secrets: Any = None
) -> FailureReason:
    """The reason verification fails (the test fails if it succeeds or raises anything else)."""
    secrets = [SPECS[name].secret] if secrets is None else secrets
    with pytest.raises(VerificationError) as caught:
        scheme_for(name).verify(body, headers, secrets, now=NOW, tolerance_s=TOL)
    assert caught.value.message
    assert isinstance(caught.value.reason, FailureReason)
    return caught.value.reason


def with_timestamp(name: str, headers: dict[str, str], text: str) -> dict[str, str]:
    """`headers` with the timestamp replaced by `text` (signature left as it was)."""
    out = dict(headers)
    if name == "stripe":
        out["stripe-signature"] = f"t={text}," + headers["stripe-signature"].split(",", 1)[1]
    else:
        ts_header = SPECS[name].ts_header
        assert ts_header
        out[ts_header] = text
    return out


@pytest.mark.parametrize("name", NAMES)
def test_valid_request_verifies_with_any_header_case(name: str) -> None:
    headers = signed(name)
    scheme_for(name).verify(BODY, headers, [SPECS[name].secret], now=NOW)
    upper = {k.upper(): v for k, v in headers.items()}
    scheme_for(name).verify(BODY, upper, [SPECS[name].secret], now=NOW)


@pytest.mark.parametrize("name", NAMES)
def test_no_secret_fails_closed_before_anything_else(name: str) -> None:
    assert reason(name, BODY, signed(name), secrets=[]) is FailureReason.NO_SECRET
    assert reason(name, BODY, {}, secrets=[]) is FailureReason.NO_SECRET
    assert reason(name, BODY, signed(name), secrets=["", b""]) is FailureReason.NO_SECRET


def test_undecodable_standard_webhooks_secret_is_unusable() -> None:
    headers = signed("standard-webhooks")
    assert reason("standard-webhooks", BODY, headers, ["whsec_!!notbase64!!"]) is (
        FailureReason.NO_SECRET
    )


@pytest.mark.parametrize("name", NAMES)
def test_each_missing_header_is_named(name: str) -> None:
    for header in SPECS[name].required:
        headers = {k: v for k, v in signed(name).items() if k != header}
        assert reason(name, BODY, headers) is FailureReason.MISSING_HEADER, header
    assert reason(name, BODY, {}) is FailureReason.MISSING_HEADER


@pytest.mark.parametrize("name", NAMES)
def test_wrong_secret_and_tampered_body_are_bad_signatures(name: str) -> None:
    other = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" if name == "standard-webhooks" else "wrong"
    assert reason(name, BODY, signed(name), secrets=[other]) is FailureReason.BAD_SIGNATURE
    assert reason(name, BODY + b" ", signed(name)) is FailureReason.BAD_SIGNATURE
    assert reason(name, b"", signed(name)) is FailureReason.BAD_SIGNATURE


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "body", [b"", b"\xff\xfe\x80 not utf-8 \xc3\x28", b"{not json", bytes(range(256))]
)
def test_empty_invalid_utf8_and_invalid_json_bodies_verify_when_signed(
    name: str, body: bytes
) -> None:
    scheme_for(name).verify(body, signed(name, body), [SPECS[name].secret], now=NOW)
    assert reason(name, body + b"x", signed(name, body)) is FailureReason.BAD_SIGNATURE


@pytest.mark.parametrize("name", NAMES)
def test_ten_megabyte_body(name: str) -> None:
    body = b"[" + b"1," * (5 * 1024 * 1024) + b"1]"
    headers = signed(name, body)
    scheme_for(name).verify(body, headers, [SPECS[name].secret], now=NOW)
    tampered = body[:-2] + b"2]"
    assert reason(name, tampered, headers) is FailureReason.BAD_SIGNATURE


@pytest.mark.parametrize("name", TIMESTAMPED)
def test_window_is_bounded_in_both_directions(name: str) -> None:
    assert reason(name, BODY, signed(name, at=NOW - TOL - 1)) is FailureReason.STALE_TIMESTAMP
    assert reason(name, BODY, signed(name, at=NOW + TOL + 1)) is FailureReason.FUTURE_TIMESTAMP
    for at in (NOW - TOL, NOW + TOL):
        scheme_for(name).verify(BODY, signed(name, at=at), [SPECS[name].secret], now=NOW)


@pytest.mark.parametrize("name", TIMESTAMPED)
@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "-1750000000",
        "1750000000.5",
        " 1750000000",
        "1e9",
        "\u0661\u0667\u0665" + "\u0660" * 7,
        "9" * 40,
        "0x10",
        "",
    ],
)
def test_non_numeric_timestamps_are_invalid(name: str, text: str) -> None:
    headers = with_timestamp(name, signed(name), text)
    # Stripe's timestamp sits inside Stripe-Signature: a non-ASCII one spoils the whole header.
    expected = (
        FailureReason.MALFORMED_HEADER
        if name == "stripe" and not text.isascii()
        else FailureReason.INVALID_TIMESTAMP
    )
    assert reason(name, BODY, headers) is expected


@pytest.mark.parametrize(
    ("name", "header", "value"),
    [
        ("hmac-timestamp", "x-signature", "abc"),
        ("hmac-timestamp", "x-signature", "é" * 64),
        ("standard-webhooks", "webhook-signature", "v2,abc"),
        ("standard-webhooks", "webhook-signature", "v1,"),
        ("stripe", "stripe-signature", "v1=abc"),
        ("stripe", "stripe-signature", "t=1750000000"),
        ("stripe", "stripe-signature", "t=1,t=2,v1=ab"),
        ("stripe", "stripe-signature", ""),
        ("github", "x-hub-signature-256", "sha1=" + "0" * 64),
        ("github", "x-hub-signature-256", "0" * 64),
        ("github", "x-github-delivery", "d" * 10_000),
        ("slack", "x-slack-signature", "v1=" + "0" * 64),
        ("shopify", "x-shopify-hmac-sha256", "not-base64"),
        ("generic-hmac", "x-sig", "sha256=" + "A" * 88),
        ("generic-hmac", "x-sig", "sha512=short"),
    ],
)
def test_malformed_headers(name: str, header: str, value: str) -> None:
    headers = signed(name) | {header: value}
    assert reason(name, BODY, headers) is FailureReason.MALFORMED_HEADER


@pytest.mark.parametrize("name", NAMES)
def test_huge_and_non_text_headers(name: str) -> None:
    sig_header = SIGNATURE_HEADER[name]
    huge = signed(name) | {sig_header: "a" * 1_000_000}
    assert reason(name, BODY, huge) is FailureReason.MALFORMED_HEADER
    as_bytes: dict[str, Any] = signed(name) | {sig_header: sig_header.encode()}
    assert reason(name, BODY, as_bytes) is FailureReason.MALFORMED_HEADER
    crowded = {f"x-filler-{i}": "v" * 100 for i in range(10_000)} | {
        k.title(): v for k, v in signed(name).items()
    }
    scheme_for(name).verify(BODY, crowded, [SPECS[name].secret], now=NOW)


def test_unsigned_type_is_reported_as_unsigned() -> None:
    headers = signed("github") | {"x-github-event": "push"}
    result = scheme_for("github").verify(BODY, headers, [SPECS["github"].secret], now=NOW)
    assert (result.event_type, result.type_signed) == ("push", False)


def test_configuration_errors_are_value_errors() -> None:
    with pytest.raises(UnknownSchemeError, match="choose one of"):
        get_scheme("nope")
    with pytest.raises(UnknownSchemeError, match="takes no option"):
        get_scheme("stripe", header="x")
    with pytest.raises(UnknownSchemeError, match=r"needs option\(s\) header.*--option header="):
        get_scheme("generic-hmac")
    for options in (
        {"header": "x", "algorithm": "md5"},
        {"header": "x", "encoding": "base32"},
        {"header": "x", "template": "{timestamp}"},
        {"header": "x", "template": "{body}{body}"},
        {"header": "x", "template": "{timestamp}.{body}"},
        {"header": "x", "template": "{nonce}.{body}"},
        {"header": ""},
    ):
        with pytest.raises(ValueError):
            get_scheme("generic-hmac", **options)
    with pytest.raises(ValueError, match="tolerance_s"):
        scheme_for("github").verify(BODY, signed("github"), ["s"], now=NOW, tolerance_s=-1)


header_text = st.text(st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["", "v1,", "t=,v1=", "sha256=", "v0=", "1750000000", "t=1750000000,v1=00", "v1,AAAA"]
)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), body=st.binary(max_size=300))
def test_arbitrary_headers_never_raise_anything_else(
    name: str, data: st.DataObject, body: bytes
) -> None:
    names = [*SPECS[name].required, "x-github-event", "x-shopify-topic", "svix-signature", "x-type"]
    keys = st.sampled_from(names) | st.text(max_size=20)
    headers = data.draw(st.dictionaries(keys, header_text, max_size=8))
    try:
        scheme_for(name).verify(body, headers, [SPECS[name].secret], now=NOW, tolerance_s=TOL)
    except VerificationError as exc:
        assert isinstance(exc.reason, FailureReason)
    else:  # only possible if hypothesis forged a valid HMAC, which it cannot
        pytest.fail(f"accepted forged headers {headers!r}")


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=2000), flip=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_body_bit_is_a_bad_signature(
    name: str, body: bytes, flip: int, bit: int
) -> None:
    headers = signed(name, body)
    scheme_for(name).verify(body, headers, [SPECS[name].secret], now=NOW)
    if body:
        index = flip % len(body)
        tampered = body[:index] + bytes([body[index] ^ (1 << bit)]) + body[index + 1 :]
        assert reason(name, tampered, headers) is FailureReason.BAD_SIGNATURE


@pytest.mark.parametrize("name", TIMESTAMPED)
@settings(max_examples=60, deadline=None)
@given(offset=st.integers(min_value=-10 * 86400, max_value=10 * 86400))
def test_timestamp_offsets_get_the_right_reason(name: str, offset: int) -> None:
    headers = signed(name, at=NOW + offset)
    if offset < -TOL:
        assert reason(name, BODY, headers) is FailureReason.STALE_TIMESTAMP
    elif offset > TOL:
        assert reason(name, BODY, headers) is FailureReason.FUTURE_TIMESTAMP
    else:
        result = scheme_for(name).verify(BODY, headers, [SPECS[name].secret], now=NOW)
        assert result.timestamp == NOW + offset


@pytest.mark.parametrize("name", NAMES)
def test_credentials_are_redacted_but_signatures_kept(name: str) -> None:
    redact = scheme_for(name).headers_to_redact
    assert {"authorization", "cookie"} <= redact
    assert SIGNATURE_HEADER[name] not in redact
