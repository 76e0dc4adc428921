"""Signature headers in their less common forms: rotation lists, odd elements, bad encodings."""

from __future__ import annotations

import pytest

from seawall.webhooks.schemes import FailureReason, VerificationError, get_scheme

BODY = b'{"id": "evt_1", "type": "ping"}'
NOW = 1_700_000_000
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_WHSEC = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"


def _reason(call: object) -> FailureReason:
    assert callable(call)
    with pytest.raises(VerificationError) as info:
        call()
    return info.value.reason


def test_standard_webhooks_rotation_list_and_undecodable_entries() -> None:
    scheme = get_scheme("standard-webhooks")
    good = scheme.sign(BODY, WHSEC, timestamp=NOW, event_id="msg_1")
    other = scheme.sign(BODY, OTHER_WHSEC, timestamp=NOW, event_id="msg_1")
    listed = dict(good)
    listed["webhook-signature"] = (
        f"{other['webhook-signature']} v1a,xyz {good['webhook-signature']}"
    )
    assert scheme.verify(BODY, listed, [WHSEC], now=NOW).event_id == "msg_1"
    assert scheme.verify(BODY, listed, [OTHER_WHSEC, WHSEC], now=NOW).secret_index == 0

    for broken in ("v1,!!!not-base64!!!", "v1,abc", "v1," + good["webhook-signature"][3:-1]):
        bad = dict(good, **{"webhook-signature": broken})
        reason = _reason(lambda bad=bad: scheme.verify(BODY, bad, [WHSEC], now=NOW))
        assert reason is FailureReason.BAD_SIGNATURE


def test_shopify_signature_that_is_not_base64_is_a_bad_signature() -> None:
    scheme = get_scheme("shopify")
    headers = scheme.sign(BODY, "shpss_secret", event_id="1", event_type="orders/create")
    headers["X-Shopify-Hmac-Sha256"] = "!" * 44
    reason = _reason(lambda: scheme.verify(BODY, headers, ["shpss_secret"], now=NOW))
    assert reason is FailureReason.BAD_SIGNATURE


def test_stripe_general_header_forms() -> None:
    scheme = get_scheme("stripe")
    secret = "whsec_stripe_test"
    v1 = scheme.sign(BODY, secret, timestamp=NOW)["Stripe-Signature"].split(",v1=")[1]
    wrong = "0" * 64
    forms = [
        f"t={NOW},v0={wrong},v1={v1}",
        f"t={NOW},v1={wrong},v1={v1}",
        f"v1={v1},t={NOW}",
        f"t={NOW},v1={v1.upper()}",
    ]
    for header in forms:
        result = scheme.verify(BODY, {"stripe-signature": header}, [secret], now=NOW)
        assert result.timestamp == float(NOW)
    bad = {"stripe-signature": f"t={NOW},v0={v1}"}
    assert _reason(lambda: scheme.verify(BODY, bad, [secret], now=NOW)) is (
        FailureReason.MALFORMED_HEADER
    )
    twice = {"stripe-signature": f"t={NOW},t={NOW},v1={v1}"}
    assert _reason(lambda: scheme.verify(BODY, twice, [secret], now=NOW)) is (
        FailureReason.MALFORMED_HEADER
    )
