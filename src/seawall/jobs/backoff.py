"""The worker's default retry schedule, taken from the resilience core."""

from __future__ import annotations

from seawall.resilience.backoff import Backoff, ExponentialJitter

__all__ = ["Backoff", "default_backoff"]


def default_backoff() -> Backoff:
    """Full-jitter exponential backoff: up to 1 s after the first failure, capped at 5 minutes."""
    return ExponentialJitter(base=1.0, cap=300.0)
