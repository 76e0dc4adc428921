"""Cross-tests with the peer libraries: they sign, seawall verifies; seawall signs, they verify.

The peers read the wall clock themselves, so these tests sign at the current time and hand
seawall the same `now`.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
import stripe
import svix.webhooks

from seawall.webhooks.schemes import FailureReason, VerificationError, get_scheme

SECRET = "whsec_" + "C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
STRIPE_SECRET = "whsec_stripe_endpoint_secret_for_tests"

# Unusual but valid JSON: key order, spacing, \u escapes and \/ that a re-serialiser changes.
ODD_BODY = (
    b'{ "type" :"payment.completed",\n  "id":"evt_\\u00e9\\u65e5",  '
    b'"url":"https:\\/\\/shop.example\\/p?q=1",\t"amount": 1.50e3, "a":[ ] }'
)
BODIES = [b'{"type":"payment.completed","id":"evt_1"}', ODD_BODY, '{"name":"Zoë ☃"}'.encode()]


def test_odd_body_would_break_a_reserialising_verifier() -> None:
    reserialised = json.dumps(json.loads(ODD_BODY)).encode()
    assert reserialised != ODD_BODY
    scheme = get_scheme("hmac-timestamp")
    headers = scheme.sign(ODD_BODY, "s", timestamp=1_700_000_000)
    scheme.verify(ODD_BODY, headers, ["s"], now=1_700_000_000)
    with pytest.raises(VerificationError) as caught:
        scheme.verify(reserialised, headers, ["s"], now=1_700_000_000)
    assert caught.value.reason is FailureReason.BAD_SIGNATURE


@pytest.mark.parametrize("body", BODIES)
def test_standardwebhooks_signs_seawall_verifies(body: bytes) -> None:
    now = time.time()
    peer = standardwebhooks.Webhook(SECRET)
    signature = peer.sign("msg_cross_1", datetime.fromtimestamp(now, tz=UTC), body.decode())
    headers = {
        "webhook-id": "msg_cross_1",
        "webhook-timestamp": str(int(now)),
        "webhook-signature": signature,
    }
    result = get_scheme("standard-webhooks").verify(body, headers, [SECRET], now=now)
    assert result.event_id == "msg_cross_1"


@pytest.mark.parametrize("body", BODIES)
def test_seawall_signs_standardwebhooks_and_svix_verify(body: bytes) -> None:
    headers = get_scheme("standard-webhooks").sign(body, SECRET, timestamp=time.time())
    standardwebhooks.Webhook(SECRET).verify(body, headers, json_parse=False)
    svix_headers = get_scheme("standard-webhooks", header_prefix="svix").sign(
        body, SECRET, timestamp=time.time()
    )
    svix.webhooks.Webhook(SECRET).verify(body, svix_headers)


@pytest.mark.parametrize("body", BODIES)
def test_svix_signs_seawall_verifies(body: bytes) -> None:
    now = time.time()
    signature = svix.webhooks.Webhook(SECRET).sign(
        "msg_svix_1", datetime.fromtimestamp(now, tz=UTC), body.decode()
    )
    headers = {
        "svix-id": "msg_svix_1",
        "svix-timestamp": str(int(now)),
        "svix-signature": signature,
    }
    result = get_scheme("standard-webhooks").verify(body, headers, [SECRET], now=now)
    assert result.event_id == "msg_svix_1"


def test_svix_rejects_what_seawall_signed_with_another_secret() -> None:
    headers = get_scheme("standard-webhooks").sign(BODIES[0], SECRET, timestamp=time.time())
    other = "whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(other).verify(BODIES[0], headers)


@pytest.mark.parametrize("body", BODIES)
def test_stripe_signs_seawall_verifies(body: bytes) -> None:
    now = int(time.time())
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), STRIPE_SECRET, timestamp=now
    )
    result = get_scheme("stripe").verify(
        body, {"Stripe-Signature": header}, [STRIPE_SECRET], now=now
    )
    assert result.timestamp == now


@pytest.mark.parametrize("body", BODIES)
def test_seawall_signs_stripe_verifies(body: bytes) -> None:
    headers = get_scheme("stripe").sign(body, STRIPE_SECRET, timestamp=time.time())
    assert stripe.WebhookSignature.verify_header(
        body, headers["Stripe-Signature"], STRIPE_SECRET, tolerance=300
    )


def test_stripe_construct_event_accepts_seawall_signature() -> None:
    body = (
        b'{"id": "evt_123", "object": "event", "type": "payment_intent.succeeded",'
        b' "data": {"object": {}}}'
    )
    headers = get_scheme("stripe").sign(body, STRIPE_SECRET, timestamp=time.time())
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], STRIPE_SECRET)
    assert event.id == "evt_123"
    assert event.type == "payment_intent.succeeded"


def test_stripe_rotation_header_with_two_v1_signatures() -> None:
    now = int(time.time())
    body = BODIES[1]
    old = stripe.WebhookSignature.generate_signature_header(
        body.decode(), "whsec_old", timestamp=now
    )
    new = stripe.WebhookSignature.generate_signature_header(
        body.decode(), "whsec_new", timestamp=now
    )
    header = f"{old},v1={new.split('v1=')[1]}"
    scheme = get_scheme("stripe")
    assert (
        scheme.verify(body, {"stripe-signature": header}, ["whsec_new"], now=now).secret_index == 0
    )
    assert (
        scheme.verify(body, {"stripe-signature": header}, ["x", "whsec_old"], now=now).secret_index
        == 1
    )
