"""Router matching: exact, prefix wildcard and `*`, per source, most specific first."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from seawall.store import Tx
from seawall.webhooks import UNHANDLED_TYPE, Router, WebhookEvent


async def exact(event: WebhookEvent[Any], tx: Tx) -> None:
    """A handler."""


async def prefix(event: WebhookEvent[Any], tx: Tx) -> None:
    """A handler."""


async def catch_all(event: WebhookEvent[Any], tx: Tx) -> None:
    """A handler."""


async def stripe_only(event: WebhookEvent[Any], tx: Tx) -> None:
    """A handler."""


def make_router() -> Router:
    router = Router()
    router.on("*")(catch_all)
    router.on("payment.*")(prefix)
    router.on("payment.completed")(exact)
    router.on("payment.completed", source="stripe")(stripe_only)
    return router


def names(router: Router, source: str, event_type: str) -> list[str]:
    return [r.handler.__name__ for r in router.match(source, event_type)]


def test_most_specific_first() -> None:
    router = make_router()
    assert names(router, "guide", "payment.completed") == ["exact", "prefix", "catch_all"]
    assert names(router, "stripe", "payment.completed") == [
        "exact",
        "stripe_only",
        "prefix",
        "catch_all",
    ]
    assert names(router, "guide", "payment.failed") == ["prefix", "catch_all"]
    assert names(router, "guide", "paymentx") == ["catch_all"]
    assert names(router, "guide", "payment") == ["catch_all"]


def test_no_match_is_empty() -> None:
    router = Router()
    router.on("invoice.*")(prefix)
    assert router.match("guide", "payment.completed") == ()


def test_registration_after_lookup_is_seen() -> None:
    router = Router()
    assert router.match("s", "a.b") == ()
    router.on("a.b")(exact)
    assert names(router, "s", "a.b") == ["exact"]


@pytest.mark.parametrize("bad", ["", "pay*", "*.completed", "a.*.*", "a.**"])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        Router().on(bad)


def test_model_must_be_pydantic() -> None:
    class Payload(BaseModel):
        id: str

    Router().on("x", model=Payload)(exact)
    with pytest.raises(TypeError, match="pydantic"):
        Router().on("x", model=dict)


def test_untyped_deliveries_reach_only_handlers_named_for_them() -> None:
    router = make_router()
    assert names(router, "any", UNHANDLED_TYPE) == []
    router.on(UNHANDLED_TYPE)(exact)
    assert names(router, "any", UNHANDLED_TYPE) == ["exact"]
    assert names(router, "any", "unhandled.x") == ["catch_all"]
