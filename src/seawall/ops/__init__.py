"""Operating the service: health and readiness, the breaker registry, the operator's queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    from seawall.ops.breakers import REGISTRY, BreakerInfo, BreakerRegistry
    from seawall.ops.errors import OperatorError

__all__ = ["REGISTRY", "BreakerInfo", "BreakerRegistry", "OperatorError"]

_HOMES = {
    "REGISTRY": "seawall.ops.breakers",
    "BreakerInfo": "seawall.ops.breakers",
    "BreakerRegistry": "seawall.ops.breakers",
    "OperatorError": "seawall.ops.errors",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
