"""Operating the service: health and readiness, breaker registry, settings, operator routes."""

from __future__ import annotations

from seawall.ops.breakers import REGISTRY, BreakerInfo, BreakerRegistry
from seawall.ops.errors import OperatorError

__all__ = ["REGISTRY", "BreakerInfo", "BreakerRegistry", "OperatorError"]
