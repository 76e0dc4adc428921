"""Import cost: seawall's packages next to tenacity and stamina, each in a fresh interpreter.

Run: `.venv/bin/python benchmarks/imports.py` (options: --runs). Each statement runs in its own
`python -c` process `--runs` times, interleaved with its peers; the time is measured inside the
process around the statement (interpreter start-up excluded), with the modules it loaded. The
median is reported with its ratio to `import tenacity`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

STATEMENTS = {
    "import tenacity": "import tenacity",
    "import stamina": "import stamina",
    "import seawall": "import seawall",
    "import seawall.resilience": "import seawall.resilience",
    "from seawall import Pipeline, Retry, CircuitBreaker": (
        "from seawall import Pipeline, Retry, CircuitBreaker"
    ),
    "from seawall import ApiClient": "from seawall import ApiClient",
    "from seawall import Webhooks, Queue, open_store": (
        "from seawall import Webhooks, Queue, open_store"
    ),
    "from seawall.service import build_service": "from seawall.service import build_service",
}

PROBE = (
    "import sys, time, json\n"
    "before = len(sys.modules)\n"
    "t = time.perf_counter()\n"
    "{statement}\n"
    "print(json.dumps([time.perf_counter() - t, len(sys.modules) - before]))\n"
)


def measure(statement: str) -> tuple[float, int]:
    """Seconds and new modules for `statement` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(statement=statement)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seconds, modules = json.loads(out)
    return float(seconds), int(modules)


def main() -> None:
    """Measure every statement, interleaved, and print medians with ratios to tenacity."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    modules: dict[str, int] = {}
    for _ in range(args.runs):
        for name, statement in STATEMENTS.items():
            seconds, count = measure(statement)
            times[name].append(seconds)
            modules[name] = count
    base = statistics.median(times["import tenacity"])
    print(f"{'statement':<55} {'median ms':>10} {'x tenacity':>11} {'modules':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<55} {median * 1000:>10.1f} {median / base:>11.2f} {modules[name]:>8}")


if __name__ == "__main__":
    main()
