"""The demo's options and its error: what a run depends on, and the store it runs on."""

from __future__ import annotations

import contextlib
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

from seawall.demo.runtime import DemoSettings
from seawall.payments import PaymentRequest
from seawall.store import Store
from seawall.testing.fake_plan import FaultPlan, Latency, Outage, PaymentOutcomes, RouteFaults
from seawall.testing.fake_webhooks import WebhookPlan

__all__ = ["DemoError", "DemoOptions", "demo_orders", "demo_store_url", "drop_schema"]


def demo_store_url(store: str | None, tmp: Path) -> tuple[str, bool]:
    """The URL the demo runs on, and whether it made a PostgreSQL schema of its own.

    A PostgreSQL URL without `?schema=` gets a fresh schema, so the invariants count only the
    demo's rows even in a database that holds other data; the demo drops it afterwards.
    """
    if store is None:
        return f"sqlite:///{tmp}/demo.db", False
    if not store.startswith(("postgresql://", "postgres://")) or "schema=" in store:
        return store, False
    joiner = "&" if "?" in store else "?"
    return f"{store}{joiner}schema=seawall_demo_{secrets.token_hex(4)}", True


async def drop_schema(store: Store) -> None:
    """Drop the demo's own PostgreSQL schema (the store opened with `?schema=`)."""
    drop = getattr(store, "drop_schema", None)
    if drop is not None:
        with contextlib.suppress(Exception):
            await drop()


class DemoError(RuntimeError):
    """The demo could not run (bad options, a store it cannot open, a port it cannot bind)."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """Everything a demo run depends on; the same options and seed draw the same faults."""

    payments: int = 200
    concurrency: int = 16
    seed: int = 7
    fault_rate: float = 0.2
    decline_rate: float = 0.08
    pending_rate: float = 0.02
    refund_rate: float = 0.1
    outage_s: float = 0.6
    webhook_duplicate_rate: float = 0.1
    webhook_delay_rate: float = 0.15
    webhook_ack_loss_rate: float = 0.05
    forged_rate: float = 0.05
    stale_rate: float = 0.05
    store: str | None = None
    worker_processes: int = 0
    chaos_kills: int = 0
    visibility_timeout_s: float = 5.0
    gateway_timeout_s: float = 2.0
    settle_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.payments < 1:
            raise DemoError(f"--payments must be at least 1, got {self.payments}")
        if not 1 <= self.concurrency <= 256:
            raise DemoError(f"--concurrency must be 1..256, got {self.concurrency}")
        rates = (
            "fault_rate",
            "decline_rate",
            "pending_rate",
            "refund_rate",
            "webhook_duplicate_rate",
            "webhook_delay_rate",
            "webhook_ack_loss_rate",
            "forged_rate",
            "stale_rate",
        )
        for name in rates:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise DemoError(f"--{name.replace('_', '-')} must be in [0, 1], got {value}")
        if self.fault_rate > 0.8:
            raise DemoError("--fault-rate above 0.8 leaves too few successful attempts to finish")
        if self.decline_rate + self.pending_rate > 1.0:
            raise DemoError("--decline-rate plus --pending-rate must not exceed 1")
        if self.outage_s < 0:
            raise DemoError("--outage must be >= 0 seconds")
        if self.chaos_kills < 0 or (self.chaos_kills and self.worker_processes < 1):
            raise DemoError("--chaos-kills needs the worker in a subprocess (--worker-processes 1)")
        if self.store is not None and not self.store.startswith(
            ("sqlite:///", "postgresql://", "postgres://")
        ):
            raise DemoError(
                f"--store must be sqlite:///path.db or postgresql://..., got {self.store!r}"
            )

    def fault_plan(self) -> FaultPlan:
        """The gateway's faults: `fault_rate` spread over before- and after-charge faults."""
        share = self.fault_rate / 6.0
        outages = (Outage(0.8, 0.8 + self.outage_s, "status_503"),) if self.outage_s else ()
        faults = RouteFaults(
            status_500=share,
            status_503=share,
            status_429=share / 2.0,
            reset=share / 2.0,
            after_500=share,
            after_reset=share,
            truncate=share,
            retry_after_s=0.05,
            hang_s=self.gateway_timeout_s + 1.0,
            latency=Latency(base_ms=2.0, jitter_ms=8.0),
            outages=outages,
        )
        return FaultPlan(
            seed=self.seed,
            default=faults,
            payments=PaymentOutcomes(fail_rate=self.decline_rate, pending_rate=self.pending_rate),
        )

    def webhook_plan(self) -> WebhookPlan:
        """The sender's misbehaviour for this run."""
        return WebhookPlan(
            seed=self.seed,
            duplicate_rate=self.webhook_duplicate_rate,
            delay_rate=self.webhook_delay_rate,
            max_delay_s=0.4,
            ack_loss_rate=self.webhook_ack_loss_rate,
            forged_rate=self.forged_rate,
            stale_rate=self.stale_rate,
        )

    def settings(self) -> DemoSettings:
        """The worker and gateway-client timings."""
        return DemoSettings(
            concurrency=self.concurrency,
            visibility_timeout_s=self.visibility_timeout_s,
            gateway_timeout_s=self.gateway_timeout_s,
        )


def demo_orders(options: DemoOptions) -> list[PaymentRequest]:
    """The shop's orders: amounts and customers drawn from the seed."""
    rng = random.Random(f"{options.seed}|orders")
    return [
        PaymentRequest(
            order_id=f"ord-{options.seed}-{index:05d}",
            amount=rng.randrange(500, 20_000, 5),
            currency=rng.choice(("usd", "eur", "gbp")),
            customer_id=f"cus_{rng.randrange(1, 60):03d}",
        )
        for index in range(options.payments)
    ]
