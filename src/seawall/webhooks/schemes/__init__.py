"""Webhook signature schemes: verify (and sign) each provider's format over the raw body bytes.

    scheme = get_scheme("stripe")
    verified = scheme.verify(body, headers, secrets, now=clock.time(), tolerance_s=300)

`verify` returns a VerifiedRequest or raises VerificationError carrying a FailureReason;
it never raises anything else for bad input. See `base` for the rules every scheme follows.
"""

from __future__ import annotations

import inspect
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
    except TypeError:
        raise UnknownSchemeError(_options_help(name, cls, options)) from None


def _options_help(name: str, cls: type[Scheme], given: dict[str, Any]) -> str:
    """Which options a scheme takes (required first) and which of `given` it did not expect."""
    params = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    required = [p.name for p in params if p.default is inspect.Parameter.empty]
    optional = [p.name for p in params if p.default is not inspect.Parameter.empty]
    unknown = sorted(set(given) - {p.name for p in params})
    missing = [n for n in required if n not in given]
    parts = [f"scheme {name!r}"]
    if missing:
        parts.append(f"needs option(s) {', '.join(missing)}")
    if unknown:
        parts.append(f"takes no option(s) {', '.join(unknown)}")
    takes = ", ".join([*(f"{n} (required)" for n in required), *optional]) or "no options"
    example = f" (e.g. --option {required[0]}=...)" if required else ""
    return f"{': '.join(parts)}; it takes: {takes}{example}"
