"""Test helpers users can import: a fake clock and a fault-injecting fake provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    from seawall.testing.clock import FakeClock
    from seawall.testing.fake_events import ProviderEvent
    from seawall.testing.fake_plan import FaultPlan, Latency, Outage, PaymentOutcomes, RouteFaults
    from seawall.testing.fake_provider import FakeProvider

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

_HOMES = {
    "FakeClock": "seawall.testing.clock",
    "FaultPlan": "seawall.testing.fake_plan",
    "Latency": "seawall.testing.fake_plan",
    "Outage": "seawall.testing.fake_plan",
    "PaymentOutcomes": "seawall.testing.fake_plan",
    "RouteFaults": "seawall.testing.fake_plan",
    "FakeProvider": "seawall.testing.fake_provider",
    "ProviderEvent": "seawall.testing.fake_events",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
