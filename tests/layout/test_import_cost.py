"""Which modules each import loads, pinned in a fresh interpreter (PEP 562 lazy packages).

The pure policies load no HTTP client, web framework, validation library or CLI toolkit; the
top-level package loads only itself until a name is used. Times live in benchmarks/imports.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "aiohttp",
    "starlette",
    "pydantic",
    "uvicorn",
    "click",
    "rich",
    "prometheus_client",
    "psycopg",
    "httpx",
)


def loaded_after(statement: str) -> set[str]:
    """The top-level modules (and seawall's modules) a fresh interpreter holds after `statement`."""
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    return set(json.loads(out))


def heavy_in(modules: set[str]) -> set[str]:
    """The heavy third-party packages among `modules` (top-level names)."""
    return {name.split(".")[0] for name in modules} & set(HEAVY)


@pytest.mark.parametrize(
    "statement",
    [
        "import seawall",
        "import seawall.resilience",
        "import seawall.http",
        "import seawall.webhooks",
        "import seawall.jobs",
        "import seawall.commands",
        "import seawall.payments",
    ],
)
def test_importing_a_package_loads_nothing_heavy(statement: str) -> None:
    modules = loaded_after(statement)
    assert heavy_in(modules) == set()
    package = statement.split()[-1]
    allowed = {"seawall", "seawall._lazy", "seawall._version", package}
    assert {m for m in modules if m.startswith("seawall")} <= allowed, sorted(modules)


def test_the_policies_load_no_http_web_or_validation_library() -> None:
    modules = loaded_after(
        "from seawall.resilience import (Pipeline, Retry, CircuitBreaker, Bulkhead, RateLimiter,"
        " Fallback, Deadline, RetryBudget, with_retry, gather_settled)\n"
        "from seawall import Pipeline as P"
    )
    assert heavy_in(modules) == set()
    assert not any(m.startswith(("seawall.http", "seawall.store", "seawall.jobs")) for m in modules)


def test_the_guide_twin_loads_only_the_http_rules() -> None:
    """`seawall.with_retry` carries HTTP meaning (seawall.http.classify), never the client."""
    modules = loaded_after("from seawall import with_retry")
    assert heavy_in(modules) == set()
    http = {m for m in modules if m.startswith("seawall.http")}
    assert http <= {
        "seawall.http",
        "seawall.http.twins",
        "seawall.http.classify",
        "seawall.http.errors",
    }, sorted(http)
    assert not any(m.startswith(("seawall.store", "seawall.jobs")) for m in modules)


def test_the_client_loads_aiohttp_but_no_web_framework_or_cli() -> None:
    modules = loaded_after("from seawall import ApiClient, SyncApiClient")
    assert "aiohttp" in modules
    assert heavy_in(modules) == {"aiohttp"}


def test_a_name_is_loaded_once_and_cached() -> None:
    code = (
        "import sys, seawall\n"
        "first = seawall.Pipeline\n"
        "assert 'Pipeline' in vars(seawall)\n"
        "assert seawall.Pipeline is first is sys.modules['seawall.resilience.pipeline'].Pipeline\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
