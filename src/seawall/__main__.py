"""`python -m seawall ...` and the `seawall` console script: the command line.

The command line needs the `service` extra (click, rich, uvicorn, ...); the library alone does
not. Without it, the command says which extra to install instead of failing on an import.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["main"]

# What the `service` extra brings that the commands import (module names, not package names).
SERVICE_MODULES = (
    "click",
    "rich",
    "uvicorn",
    "prometheus_client",
    "pydantic_settings",
    "multipart",
)

SERVICE_EXTRA_MESSAGE = (
    "error: seawall's command line needs the service extra ({missing} not installed); "
    "install it with: pip install 'seawall[service]'  (add ,postgres for PostgreSQL)"
)


def missing_service_modules() -> list[str]:
    """The service extra's modules that cannot be imported here."""
    missing = []
    for name in SERVICE_MODULES:
        try:
            found = sys.modules[name] is not None or importlib.util.find_spec(name) is not None
        except KeyError:
            found = importlib.util.find_spec(name) is not None
        if not found:
            missing.append(name)
    return missing


def main() -> None:
    """Run the CLI, or say which extra to install when its dependencies are missing."""
    missing_modules = missing_service_modules()
    if missing_modules:
        print(SERVICE_EXTRA_MESSAGE.format(missing=", ".join(missing_modules)), file=sys.stderr)
        raise SystemExit(1)
    try:
        from seawall.cli import main as cli_main
    except ImportError as exc:
        missing = exc.name or "a dependency"
        if missing.split(".")[0] == "seawall":
            raise
        print(SERVICE_EXTRA_MESSAGE.format(missing=missing), file=sys.stderr)
        raise SystemExit(1) from None
    cli_main()


if __name__ == "__main__":
    main()
