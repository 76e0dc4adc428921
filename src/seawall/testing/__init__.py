"""Test helpers users can import: a fake clock and a fault-injecting fake provider."""

from __future__ import annotations

from seawall.testing.clock import FakeClock
from seawall.testing.fake_plan import FaultPlan, Latency, Outage, PaymentOutcomes, RouteFaults
from seawall.testing.fake_provider import FakeProvider, ProviderEvent

__all__ = [
    "FakeClock",
    "FakeProvider",
    "FaultPlan",
    "Latency",
    "Outage",
    "PaymentOutcomes",
    "ProviderEvent",
    "RouteFaults",
]
