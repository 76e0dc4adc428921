"""Known-answer tests: each scheme reproduces signatures published by the provider or a spec.

Provenance of each vector is stated beside it. Where a provider publishes no complete
(secret, body, signature) triple, the vector was computed with the OpenSSL command line
(`openssl dgst -sha256 -hmac ...`), an implementation independent of this code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from seawall.secrets import Secret
from seawall.webhooks.schemes import FailureReason, VerificationError, get_scheme
from seawall.webhooks.schemes.keys import HmacKey

# docs.github.com, "Validating webhook deliveries": secret, payload and expected digest.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# Standard Webhooks specification / standardwebhooks test-suite example.
STD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STD_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STD_TS = 1614265330
STD_BODY = b'{"test": 2432232314}'
STD_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# Slack, "Verifying requests from Slack": the documented slash-command example.
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    b"%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

# Shopify publishes no triple; this one is published by SQLPage's Shopify webhook example
# and reproduced with `openssl dgst -sha256 -hmac test-webhook-secret -binary | base64`.
SHOPIFY_SECRET = "test-webhook-secret"
SHOPIFY_BODY = b'{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}'
SHOPIFY_SIG = "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw="

# Stripe publishes the header shape, not a triple; computed with OpenSSL over "t.body",
# keyed with the whsec_ string's bytes as given (cross-checked against the stripe library
# in test_schemes_cross.py).
STRIPE_SECRET = "whsec_test_secret"
STRIPE_TS = 1492774577
STRIPE_BODY = b'{"id":"evt_test_webhook","object":"event"}'
STRIPE_V1 = "88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a"

# The guide's scheme has no published vector; computed with
# `printf '1700000000.<body>' | openssl dgst -sha256 -hmac guide-secret`.
GUIDE_SECRET = "guide-secret"
GUIDE_TS = 1700000000
GUIDE_BODY = b'{"eventId":"evt_1","type":"payment.completed","amount":1000}'
GUIDE_SIG = "66a614ed971c65a60e6ee643c31147a4df5a50d7f68cdaf1aa1a9ed50c2a32ea"


def test_github_docs_vector_verifies_and_signs() -> None:
    scheme = get_scheme("github")
    headers = {
        "X-Hub-Signature-256": GITHUB_SIG,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "issues",
    }
    result = scheme.verify(GITHUB_BODY, headers, [GITHUB_SECRET], now=0.0)
    assert result.event_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert result.event_type == "issues"
    assert result.type_signed is False
    assert result.timestamp is None
    sent = scheme.sign(GITHUB_BODY, GITHUB_SECRET, event_id="d1", event_type="issues")
    assert sent["X-Hub-Signature-256"] == GITHUB_SIG
    assert sent["X-GitHub-Delivery"] == "d1"
    assert sent["X-GitHub-Event"] == "issues"


def test_standard_webhooks_spec_vector_verifies_and_signs() -> None:
    scheme = get_scheme("standard-webhooks")
    headers = {"webhook-id": STD_ID, "webhook-timestamp": str(STD_TS), "webhook-signature": STD_SIG}
    result = scheme.verify(STD_BODY, headers, [STD_SECRET], now=STD_TS + 10)
    assert (result.event_id, result.timestamp, result.scheme) == (STD_ID, STD_TS, scheme.name)
    assert scheme.sign(STD_BODY, STD_SECRET, timestamp=STD_TS, event_id=STD_ID) == headers


def test_standard_webhooks_accepts_svix_headers_and_multiple_signatures() -> None:
    scheme = get_scheme("standard-webhooks")
    headers = {
        "Svix-Id": STD_ID,
        "Svix-Timestamp": str(STD_TS),
        "Svix-Signature": f"v1a,ignoredEd25519== v1,{'A' * 43}= {STD_SIG}",
    }
    result = scheme.verify(STD_BODY, headers, [STD_SECRET], now=STD_TS)
    assert result.event_id == STD_ID
    svix_signer = get_scheme("standard-webhooks", header_prefix="svix")
    assert svix_signer.sign(STD_BODY, STD_SECRET, timestamp=STD_TS, event_id=STD_ID) == {
        "svix-id": STD_ID,
        "svix-timestamp": str(STD_TS),
        "svix-signature": STD_SIG,
    }


def test_slack_docs_vector_verifies_and_signs() -> None:
    scheme = get_scheme("slack")
    headers = {"X-Slack-Request-Timestamp": str(SLACK_TS), "X-Slack-Signature": SLACK_SIG}
    result = scheme.verify(SLACK_BODY, headers, [SLACK_SECRET], now=SLACK_TS + 60)
    assert result.timestamp == SLACK_TS
    assert scheme.sign(SLACK_BODY, SLACK_SECRET, timestamp=SLACK_TS) == headers


def test_shopify_vector_verifies_and_signs() -> None:
    scheme = get_scheme("shopify")
    headers = {
        "X-Shopify-Hmac-Sha256": SHOPIFY_SIG,
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Topic": "orders/create",
    }
    result = scheme.verify(SHOPIFY_BODY, headers, [SHOPIFY_SECRET], now=0.0)
    assert result.event_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert (result.event_type, result.type_signed) == ("orders/create", False)
    sent = scheme.sign(
        SHOPIFY_BODY, SHOPIFY_SECRET, event_id=result.event_id, event_type="orders/create"
    )
    assert sent == headers


def test_stripe_vector_verifies_and_signs() -> None:
    scheme = get_scheme("stripe")
    # Stripe also sends a v0 (test-mode) entry while it exists; it must be ignored.
    header = f"t={STRIPE_TS},v1={STRIPE_V1},v0={'6f' * 32}"
    result = scheme.verify(
        STRIPE_BODY, {"Stripe-Signature": header}, [STRIPE_SECRET], now=STRIPE_TS + 1
    )
    assert result.timestamp == STRIPE_TS
    assert scheme.sign(STRIPE_BODY, STRIPE_SECRET, timestamp=STRIPE_TS) == {
        "Stripe-Signature": f"t={STRIPE_TS},v1={STRIPE_V1}"
    }


def test_guide_scheme_vector_in_seconds_and_milliseconds() -> None:
    scheme = get_scheme("hmac-timestamp")
    headers = {"x-timestamp": str(GUIDE_TS), "x-signature": GUIDE_SIG}
    assert scheme.verify(GUIDE_BODY, headers, [GUIDE_SECRET], now=GUIDE_TS).timestamp == GUIDE_TS
    assert scheme.sign(GUIDE_BODY, GUIDE_SECRET, timestamp=GUIDE_TS) == headers
    # A sender using JavaScript's Date.now() sends milliseconds: read by magnitude.
    ms = str(GUIDE_TS * 1000 + 250)
    sig = hmac.new(b"guide-secret", ms.encode() + b"." + GUIDE_BODY, hashlib.sha256).hexdigest()
    result = scheme.verify(
        GUIDE_BODY, {"X-Timestamp": ms, "X-Signature": sig}, [GUIDE_SECRET], now=GUIDE_TS
    )
    assert result.timestamp == pytest.approx(GUIDE_TS + 0.25)


@pytest.mark.parametrize(
    ("options", "headers"),
    [
        (
            {"header": "X-Hub-Signature-256", "prefix": "sha256="},
            {"x-hub-signature-256": GITHUB_SIG},
        ),
        (
            {"header": "X-Shopify-Hmac-Sha256", "encoding": "base64"},
            {"X-Shopify-Hmac-Sha256": SHOPIFY_SIG},
        ),
        (
            {
                "header": "X-Slack-Signature",
                "prefix": "v0=",
                "template": "v0:{timestamp}:{body}",
                "timestamp_header": "X-Slack-Request-Timestamp",
            },
            {"X-Slack-Signature": SLACK_SIG, "X-Slack-Request-Timestamp": str(SLACK_TS)},
        ),
        (
            {
                "header": "webhook-signature",
                "prefix": "v1,",
                "encoding": "base64",
                "template": "{id}.{timestamp}.{body}",
                "timestamp_header": "webhook-timestamp",
                "id_header": "webhook-id",
            },
            {"webhook-signature": STD_SIG, "webhook-timestamp": str(STD_TS), "webhook-id": STD_ID},
        ),
    ],
    ids=["github", "shopify", "slack", "standard-webhooks-shape"],
)
def test_generic_hmac_reproduces_published_vectors(
    options: dict[str, str], headers: dict[str, str]
) -> None:
    scheme = get_scheme("generic-hmac", **options)
    vectors = {
        "x-hub-signature-256": (GITHUB_BODY, GITHUB_SECRET, 0),
        "x-shopify-hmac-sha256": (SHOPIFY_BODY, SHOPIFY_SECRET, 0),
        "x-slack-signature": (SLACK_BODY, SLACK_SECRET, SLACK_TS),
        "webhook-signature": (STD_BODY, base64.b64decode(STD_SECRET[6:]), STD_TS),
    }
    body, secret, now = vectors[options["header"].lower()]
    scheme.verify(body, headers, [secret], now=now)
    signed = scheme.sign(body, secret, timestamp=now, event_id=headers.get("webhook-id"))
    assert {k.lower(): v for k, v in signed.items()} == {k.lower(): v for k, v in headers.items()}


def test_generic_hmac_sha512_and_sha1_match_rfc_vectors() -> None:
    # RFC 4231 test case 2 (HMAC-SHA-512) and RFC 2202 test case 2 (HMAC-SHA-1).
    body = b"what do ya want for nothing?"
    sha512 = (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d"
        "034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    )
    scheme = get_scheme("generic-hmac", header="x-sig", algorithm="sha512")
    assert scheme.verify(body, {"X-Sig": sha512.upper()}, ["Jefe"], now=0).secret_index == 0
    sha1 = get_scheme("generic-hmac", header="x-sig", algorithm="sha1", prefix="sha1=")
    sha1.verify(body, {"x-sig": "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"}, ["Jefe"], now=0)


@pytest.mark.parametrize(
    ("key", "data", "sha256_hex"),
    [
        # RFC 4231 test cases 1, 2 and 6 (a key longer than the block size is hashed first).
        (
            b"\x0b" * 20,
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            b"\xaa" * 131,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ],
)
def test_prepared_key_matches_rfc_4231(key: bytes, data: bytes, sha256_hex: str) -> None:
    assert HmacKey(key).hexdigest(data[:5], data[5:]) == sha256_hex


def test_secret_objects_and_rotation_report_the_matching_index() -> None:
    scheme = get_scheme("github")
    headers = {"X-Hub-Signature-256": GITHUB_SIG}
    current = Secret(value="new-secret", reference="env:NEW")
    previous = Secret(value=GITHUB_SECRET, reference="env:OLD")
    assert scheme.verify(GITHUB_BODY, headers, [current, previous], now=0).secret_index == 1
    assert scheme.verify(GITHUB_BODY, headers, [GITHUB_SECRET.encode()], now=0).secret_index == 0
    with pytest.raises(VerificationError) as caught:
        scheme.verify(GITHUB_BODY, headers, [current], now=0)
    assert caught.value.reason is FailureReason.BAD_SIGNATURE
