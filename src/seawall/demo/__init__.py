"""The payment demo (`seawall demo`) and the policies tour (`seawall demo --policies`).

It runs the library end to end; nothing in the library imports it. Modules: `run` (the
orchestration and its invariants), `options` (what a run depends on), `processes` (uvicorn,
worker subprocesses, log routing), `runtime` (the seawall side: store, queues, webhooks, worker),
`worker` (the same worker as a process the demo can SIGKILL), `report` (the summary and the
invariants), `aws`, `aws_runtime` and `aws_http` (the same run on the AWS mode, `--store aws`),
and `policies` (the resilience policies on a flaky function and a fake clock).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seawall.demo.options import DemoError, DemoOptions
    from seawall.demo.policies import run_resilience_demo
    from seawall.demo.run import main, run_demo

__all__ = ["DemoError", "DemoOptions", "main", "run_demo", "run_resilience_demo"]

_HOMES = {
    "DemoError": "seawall.demo.options",
    "DemoOptions": "seawall.demo.options",
    "main": "seawall.demo.run",
    "run_demo": "seawall.demo.run",
    "run_resilience_demo": "seawall.demo.policies",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'seawall.demo' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
