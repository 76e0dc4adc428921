"""One inbound endpoint's settings at run time (`WebhookEndpoint`), built from config or by hand.

`guide_endpoint(secrets)` is the guide's endpoint as written: `POST /api/webhooks/payment-provider`,
the `hmac-timestamp` scheme (`x-signature`, `x-timestamp`), a 300 s window both ways, event id and
type from the body's `id` and `type` fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seawall.config import WebhookEndpointConfig
from seawall.secrets import Secret, resolve_secrets
from seawall.webhooks.schemes import Scheme, get_scheme
from seawall.webhooks.schemes.base import DEFAULT_REDACT

__all__ = ["GUIDE_PATH", "GUIDE_SOURCE", "WebhookEndpoint", "guide_endpoint"]

GUIDE_SOURCE = "payment-provider"
GUIDE_PATH = "/api/webhooks/payment-provider"


@dataclass(frozen=True)
class WebhookEndpoint:
    """A verified webhook endpoint: where it listens, how it verifies, how it finds id and type.

    `secrets` are resolved values (the first is current, later ones are kept for rotation); an
    empty list refuses every request. `max_receives` caps the processing job's attempts (None:
    the queue's default).
    """

    source: str
    path: str
    scheme: Scheme
    secrets: Sequence[Secret | str | bytes]
    tolerance_s: float = 300.0
    max_body_bytes: int = 1_048_576
    invalid_signature_status: int = 400
    event_id_field: str = "id"
    event_type_field: str | None = None
    """The body field holding the event type; None: the scheme's `type_fields` (the guide's
    scheme reads `event`, as the guide's payload `{id, event, data}` has it, then `type`)."""
    max_receives: int | None = None
    max_header_bytes: int = 16_384
    """Largest total size of the request's header names and values; larger answers 431."""
    body_timeout_s: float = 30.0
    """Longest a client may take to send its whole body; slower answers 408."""
    redact: frozenset[str] = field(default=frozenset())
    strict: bool = False
    """True: refuse with 400 a verified body that is not a JSON object with a usable id and
    type (missing_event_type, invalid_json, invalid_utf8, json_too_deep, invalid_event_id,
    invalid_event_type), as seawall did before it accepted every shape. False (the default):
    such a delivery is stored and acknowledged, under the type `unhandled` if it names none
    (see `seawall.webhooks.shape`); a provider answered 400 for an authentic event retries it
    for days and may disable the endpoint."""

    @property
    def type_fields(self) -> tuple[str, ...]:
        """The body fields read for the event type, in order."""
        if self.event_type_field is not None:
            return (self.event_type_field,)
        return self.scheme.type_fields

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"webhook path must start with '/': {self.path!r}")
        if not (0 < self.tolerance_s <= 86_400):
            raise ValueError("tolerance_s must be in (0, 86400] seconds")
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        if self.max_header_bytes < 1024 or not 0 < self.body_timeout_s <= 600:
            raise ValueError("max_header_bytes must be >= 1024 and body_timeout_s in (0, 600]")
        if self.invalid_signature_status not in (400, 401):
            raise ValueError("invalid_signature_status must be 400 or 401")
        hidden = DEFAULT_REDACT | self.scheme.headers_to_redact | {h.lower() for h in self.redact}
        object.__setattr__(self, "redact", frozenset(hidden))

    @classmethod
    def from_config(cls, config: WebhookEndpointConfig) -> WebhookEndpoint:
        """Build an endpoint from a `[[webhooks]]` entry, resolving its secret references now."""
        return cls(
            source=config.source,
            path=config.path,
            scheme=get_scheme(config.scheme, **config.scheme_options),
            secrets=resolve_secrets(config.secrets, name=f"webhooks[{config.source}].secrets"),
            tolerance_s=config.tolerance_s,
            max_body_bytes=config.max_body_bytes,
            invalid_signature_status=config.invalid_signature_status,
            event_id_field=config.event_id_field,
            event_type_field=config.event_type_field,
            max_receives=config.max_receives,
            max_header_bytes=config.max_header_bytes,
            body_timeout_s=config.body_timeout_s,
            strict=config.strict,
        )


def guide_endpoint(secrets: Sequence[Secret | str | bytes], **overrides: Any) -> WebhookEndpoint:
    """The guide's payment-provider endpoint with `secrets` (any field can be overridden)."""
    settings: dict[str, Any] = {
        "source": GUIDE_SOURCE,
        "path": GUIDE_PATH,
        "scheme": get_scheme("hmac-timestamp"),
        "secrets": secrets,
    }
    settings.update(overrides)
    return WebhookEndpoint(**settings)
