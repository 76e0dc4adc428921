"""State shared by every process of a fleet: circuit breakers on Redis (`seawall[redis]`)."""

from __future__ import annotations

from seawall.fleet.redis_breakers import SharedBreakerStore

__all__ = ["SharedBreakerStore"]
