"""PEP 562 lazy exports: a package's public names are imported from their modules on first use.

Each package `__init__` lists where its names live (`_HOMES`) and forwards its module-level
`__getattr__` here, so `import seawall.resilience` loads only what the caller touches.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["load_export"]


def load_export(
    package: str, homes: Mapping[str, str], name: str, namespace: MutableMapping[str, Any]
) -> Any:
    """Import `name` from its home module, cache it in the package namespace, and return it."""
    home = homes.get(name)
    if home is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    namespace[name] = value
    return value
