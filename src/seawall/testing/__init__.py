"""Test helpers users can import: a fake clock and a fault-injecting fake provider."""

from __future__ import annotations

from seawall.testing.clock import FakeClock

__all__ = ["FakeClock"]
