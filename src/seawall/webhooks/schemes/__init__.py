"""Webhook signature schemes: verify (and sign) each provider's format over the raw body bytes.

    scheme = get_scheme("stripe")
    verified = scheme.verify(body, headers, secrets, now=clock.time(), tolerance_s=300)

`verify` returns a VerifiedRequest or raises VerificationError carrying a FailureReason;
it never raises anything else for bad input. See `base` for the rules every scheme follows.
"""

from __future__ import annotations

from typing import Any

from seawall.webhooks.schemes.base import Scheme, VerifiedRequest
from seawall.webhooks.schemes.errors import FailureReason, VerificationError
from seawall.webhooks.schemes.generic_hmac import GenericHmacScheme
from seawall.webhooks.schemes.github import GitHubScheme
from seawall.webhooks.schemes.hmac_timestamp import HmacTimestampScheme
from seawall.webhooks.schemes.keys import SecretLike
from seawall.webhooks.schemes.shopify import ShopifyScheme
from seawall.webhooks.schemes.slack import SlackScheme
from seawall.webhooks.schemes.standard_webhooks import StandardWebhooksScheme
from seawall.webhooks.schemes.stripe import StripeScheme

__all__ = [
    "SCHEMES",
    "FailureReason",
    "GenericHmacScheme",
    "GitHubScheme",
    "HmacTimestampScheme",
    "Scheme",
    "SecretLike",
    "ShopifyScheme",
    "SlackScheme",
    "StandardWebhooksScheme",
    "StripeScheme",
    "UnknownSchemeError",
    "VerificationError",
    "VerifiedRequest",
    "get_scheme",
]

SCHEMES: dict[str, type[Scheme]] = {
    cls.name: cls
    for cls in (
        HmacTimestampScheme,
        StandardWebhooksScheme,
        StripeScheme,
        GitHubScheme,
        SlackScheme,
        ShopifyScheme,
        GenericHmacScheme,
    )
}
"""Scheme classes by their configuration name (`scheme = "..."` in seawall.toml)."""


class UnknownSchemeError(ValueError):
    """A configuration names a scheme that does not exist, or passes it options it does not take."""


def get_scheme(name: str, **options: Any) -> Scheme:
    """A scheme by configuration name, e.g. `get_scheme("generic-hmac", header="x-sig")`."""
    cls = SCHEMES.get(name)
    if cls is None:
        raise UnknownSchemeError(
            f"unknown webhook scheme {name!r}; choose one of: {', '.join(sorted(SCHEMES))}"
        )
    try:
        return cls(**options)
    except TypeError as exc:
        raise UnknownSchemeError(f"scheme {name!r}: bad options {sorted(options)}: {exc}") from None
