"""State shared by every process of a fleet: circuit breakers on Redis or PostgreSQL."""

from __future__ import annotations

from seawall.fleet.postgres_breakers import PostgresBreakerStore
from seawall.fleet.redis_breakers import SharedBreakerStore

__all__ = ["PostgresBreakerStore", "SharedBreakerStore"]
