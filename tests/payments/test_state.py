"""The payment record merge: idempotent, order-independent, never moving a payment backwards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.payments import (
    PaymentRequest,
    PaymentRequestError,
    PaymentUpdate,
    map_provider_status,
    merge,
    record_status_for_provider,
)

ORDER = "ord-1"
CHARGED = PaymentUpdate(ORDER, "charge", status="success", transaction_id="pay_1", amount=1000)
COMPLETED = PaymentUpdate(
    ORDER, "webhook", status="success", transaction_id="pay_1", amount=1000, event_id="evt_1"
)
REFUND_A = PaymentUpdate(ORDER, "webhook", refund_id="re_1", refund_amount=400, event_id="evt_2")
REFUND_A_CALL = PaymentUpdate(ORDER, "refund", refund_id="re_1", refund_amount=400)
REFUND_B = PaymentUpdate(ORDER, "webhook", refund_id="re_2", refund_amount=600, event_id="evt_3")
UNKNOWN = PaymentUpdate(ORDER, "charge", status="pending", message="outcome unknown")


def fold(updates: list[PaymentUpdate]) -> dict[str, object]:
    state: dict[str, object] | None = None
    for update in updates:
        merged = merge(state, update)
        if merged is not None:
            state = merged
    assert state is not None
    return state


def essentials(state: dict[str, object]) -> tuple[object, ...]:
    return (
        state["status"],
        state["transaction_id"],
        state["amount_refunded"],
        frozenset(state["refund_ids"]),  # type: ignore[arg-type]
        frozenset(state["event_ids"]),  # type: ignore[arg-type]
    )


@given(st.permutations([CHARGED, COMPLETED, REFUND_A, REFUND_A_CALL, REFUND_B, UNKNOWN]))
def test_any_delivery_order_ends_in_the_same_state(order: list[PaymentUpdate]) -> None:
    state = fold(order)
    assert essentials(state) == (
        "refunded",
        "pay_1",
        1000,
        frozenset({"re_1", "re_2"}),
        frozenset({"evt_1", "evt_2", "evt_3"}),
    )


@given(st.lists(st.sampled_from([CHARGED, COMPLETED, REFUND_A, UNKNOWN]), min_size=1))
def test_repeating_updates_changes_nothing(updates: list[PaymentUpdate]) -> None:
    state = fold(updates)
    for update in updates:
        assert merge(state, update) is None


def test_a_settled_payment_never_moves_backwards() -> None:
    refunded = fold([CHARGED, REFUND_A, REFUND_B])
    assert refunded["status"] == "refunded"
    assert merge(refunded, COMPLETED) is not None  # only its event id is added
    assert fold([CHARGED, REFUND_A, REFUND_B, COMPLETED])["status"] == "refunded"
    assert fold([CHARGED, UNKNOWN])["status"] == "success"
    failed = PaymentUpdate(ORDER, "webhook", status="failed", event_id="evt_9")
    assert fold([CHARGED, failed])["status"] == "success"


def test_partial_refund_keeps_success_and_counts_the_amount() -> None:
    state = fold([COMPLETED, REFUND_A, REFUND_A_CALL])
    assert state["status"] == "success" and state["amount_refunded"] == 400


def test_update_round_trips_as_a_job_payload_and_rejects_garbage() -> None:
    assert PaymentUpdate.from_dict(REFUND_A.to_dict()) == REFUND_A
    with pytest.raises(ValueError, match="unknown fields"):
        PaymentUpdate.from_dict({**REFUND_A.to_dict(), "surprise": 1})
    with pytest.raises(ValueError, match="unknown status"):
        PaymentUpdate.from_dict({**CHARGED.to_dict(), "status": "paid"})


def test_status_mapping_follows_the_guide() -> None:
    assert map_provider_status("succeeded") == "success"
    assert map_provider_status("failed") == "failed"
    assert map_provider_status("pending") == map_provider_status("weird") == "pending"
    assert record_status_for_provider("succeeded", 100, 100) == "refunded"
    assert record_status_for_provider("succeeded", 100, 40) == "success"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"order_id": ""}, "order_id"),
        ({"order_id": "a#b"}, "order_id"),
        ({"amount": 0}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"currency": "euro"}, "currency"),
        ({"customer_id": " "}, "customer_id"),
    ],
)
def test_bad_payment_requests_are_named(fields: dict[str, object], message: str) -> None:
    good: dict[str, object] = {
        "order_id": "o-1",
        "amount": 100,
        "currency": "usd",
        "customer_id": "c",
    }
    with pytest.raises(PaymentRequestError, match=message):
        PaymentRequest(**{**good, **fields})  # type: ignore[arg-type]
    with pytest.raises(PaymentRequestError, match="missing"):
        PaymentRequest.from_dict({"order_id": "o"})
