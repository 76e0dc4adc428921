"""seawall: keeps a Python service standing when the outside world fails."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
