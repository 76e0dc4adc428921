"""Where the payment gateway is and how calls to it behave: URL and key as secret references."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.http import ApiClient, BearerAuth, CallListener, CallRecord
from seawall.resilience import CircuitBreaker, ExponentialJitter, ResilienceListener, Retry
from seawall.secrets import resolve_secret

__all__ = ["GatewaySettings", "build_gateway_client"]


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """The guide's gateway settings: 3 attempts from 1 s, a 15 s timeout, references for secrets.

    `url` and `api_key` are references (`env:NAME`, `file:/path`, `literal:VALUE`; the url may
    also be plain text), resolved when the client is built, never logged. The breaker opens
    after `breaker_failures` consecutive unhealthy answers (5xx, timeouts, resets; never 4xx)
    for `breaker_reset_s`.
    """

    url: str = "env:PAYMENT_GATEWAY_URL"
    api_key: str = "env:PAYMENT_GATEWAY_API_KEY"
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 10.0
    timeout_s: float = 15.0
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.backoff_base_s < 0 or self.backoff_cap_s < self.backoff_base_s:
            raise ValueError("backoff needs 0 <= backoff_base_s <= backoff_cap_s")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.breaker_failures < 1 or self.breaker_reset_s < 0:
            raise ValueError("breaker_failures must be >= 1 and breaker_reset_s >= 0")


def build_gateway_client(
    settings: GatewaySettings,
    *,
    clock: Clock = SYSTEM_CLOCK,
    listeners: tuple[ResilienceListener, ...] = (),
    on_call: Iterable[CallListener | Callable[[CallRecord], None]] = (),
) -> ApiClient:
    """An ApiClient for the gateway: bearer auth, retry with jittered backoff, breaker, deadline.

    `on_call` receives one record per logical call (for metrics and the dashboard).
    """
    base_url = resolve_secret(settings.url, name="payment gateway url", plain_ok=True).value
    retry = Retry(
        max_attempts=settings.max_attempts,
        backoff=ExponentialJitter(base=settings.backoff_base_s, cap=settings.backoff_cap_s),
        name="payments.retry",
        clock=clock,
    )
    breaker = CircuitBreaker(
        failure_threshold=settings.breaker_failures,
        reset_timeout_ms=settings.breaker_reset_s * 1000.0,
        name="payments.gateway",
        clock=clock,
        listeners=listeners,
    )
    return ApiClient(
        base_url,
        auth=BearerAuth(settings.api_key),
        deadline=settings.timeout_s,
        retry=retry,
        breaker=breaker,
        connect_timeout=min(5.0, settings.timeout_s),
        read_timeout=settings.timeout_s,
        clock=clock,
        listeners=listeners,
        on_call=on_call,
        name="payments.gateway",
    )
