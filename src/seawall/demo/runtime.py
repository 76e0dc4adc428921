"""The demo's seawall side, shared by the in-process worker and `python -m seawall.demo.worker`.

`DemoSettings` holds the demo's small timings (backoff from 50 ms, 2 s gateway deadline, 0.5 s
breaker cool-down) so a default run is quick; the library defaults stay the guide's (1 s, 15 s,
30 s). `build_runtime` wires the payment service, the webhook router and a worker on one store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from seawall.commands import CommandApi, CommandService, InvokeContext
from seawall.http import ApiClient
from seawall.jobs import JobProducer, Queue, Worker
from seawall.observability.metrics import get_metrics
from seawall.ops.breakers import REGISTRY
from seawall.payments import (
    GatewaySettings,
    PaymentGatewayService,
    register_payment_webhooks,
)
from seawall.payments.settings import build_gateway_client
from seawall.store import Store
from seawall.webhooks import Router, Webhooks, guide_endpoint

__all__ = [
    "DEMO_TENANT",
    "DemoRuntime",
    "DemoSettings",
    "build_runtime",
    "demo_context",
]

DEMO_TENANT = "demo"


def demo_context(request_id: str = "") -> InvokeContext:
    """The invoke context of the demo's shop: tenant `demo`, user `demo-shop`."""
    return InvokeContext(
        headers={"x-tenant-code": DEMO_TENANT},
        claims={"sub": "demo-shop", "custom:tenant": DEMO_TENANT},
        request_id=request_id,
        source="seawall demo",
    )


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """Timings and sizes of the demo's worker and gateway client."""

    concurrency: int = 16
    visibility_timeout_s: float = 5.0
    poll_interval_s: float = 0.05
    gateway_timeout_s: float = 2.0
    backoff_base_s: float = 0.05
    backoff_cap_s: float = 0.5
    breaker_failures: int = 5
    breaker_reset_s: float = 0.5
    job_retry_delay_s: float = 0.05
    job_retry_cap_s: float = 1.0
    max_receives: int = 12

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.visibility_timeout_s <= self.gateway_timeout_s:
            raise ValueError(
                "visibility_timeout_s must exceed gateway_timeout_s, or a slow charge would be "
                "handed to a second worker while the first is still waiting for it"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (passed to the worker subprocess)."""
        return asdict(self)

    def gateway(self, url: str, api_key: str) -> GatewaySettings:
        """Gateway settings with these timings; `url` and `api_key` are secret references."""
        return GatewaySettings(
            url=url,
            api_key=api_key,
            max_attempts=3,
            backoff_base_s=self.backoff_base_s,
            backoff_cap_s=self.backoff_cap_s,
            timeout_s=self.gateway_timeout_s,
            breaker_failures=self.breaker_failures,
            breaker_reset_s=self.breaker_reset_s,
        )


@dataclass(slots=True)
class DemoRuntime:
    """The payment service, webhooks and worker of one demo process."""

    store: Store
    service: PaymentGatewayService
    webhooks: Webhooks
    worker: Worker
    client: ApiClient
    queue: Queue

    async def aclose(self) -> None:
        """Close the payment service and its gateway client, and forget its breaker."""
        await close_gateway(self.service, self.client)


def build_runtime(
    store: Store,
    settings: DemoSettings,
    *,
    gateway_url: str,
    gateway_key: str,
    webhook_secret: str | None = None,
) -> DemoRuntime:
    """Wire service, webhook router and worker; `webhook_secret` adds the receiving endpoint."""
    queue = Queue(store, default_max_receives=settings.max_receives)
    commands = CommandService(store, queue=queue, source="seawall demo")
    client, service = open_gateway(
        settings,
        commands,
        queue,
        gateway_url=gateway_url,
        gateway_key=gateway_key,
        on_call=(get_metrics().on_call,),
    )
    router = Router()
    register_payment_webhooks(router, service)
    endpoints = [guide_endpoint([webhook_secret])] if webhook_secret else []
    webhooks = Webhooks(store, endpoints, router=router, queue=queue)
    worker = Worker(
        store,
        queue=queue,
        concurrency=settings.concurrency,
        batch_size=32,
        visibility_timeout=settings.visibility_timeout_s,
        poll_interval=settings.poll_interval_s,
        grace_period=settings.gateway_timeout_s + 1.0,
    )
    webhooks.attach(worker)
    service.register(worker)
    return DemoRuntime(store, service, webhooks, worker, client, queue)


def open_gateway(
    settings: DemoSettings,
    commands: CommandApi,
    queue: JobProducer,
    *,
    gateway_url: str,
    gateway_key: str,
    on_call: tuple[Callable[..., Any], ...] = (),
) -> tuple[ApiClient, PaymentGatewayService]:
    """A demo's gateway client (its breaker registered for operators) and payment service."""
    client = build_gateway_client(settings.gateway(gateway_url, gateway_key), on_call=on_call)
    breaker = client.settings.default_policy.pipeline.breaker
    if breaker is not None:
        REGISTRY.register(breaker)
    service = PaymentGatewayService(
        client,
        commands,
        queue=queue,
        default_tenant=DEMO_TENANT,
        max_receives=settings.max_receives,
        retry_delay_s=settings.job_retry_delay_s,
        retry_delay_cap_s=settings.job_retry_cap_s,
    )
    return client, service


async def close_gateway(service: PaymentGatewayService, client: ApiClient) -> None:
    """Close a demo's payment service and gateway client, and forget the client's breaker."""
    breaker = client.settings.default_policy.pipeline.breaker
    name = None if breaker is None else breaker.name
    if name is not None and REGISTRY.get(name) is breaker:
        REGISTRY.unregister(name)
    await service.aclose()
    await client.aclose()
