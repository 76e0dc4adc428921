"""The console script without the service extra names the extra to install, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("missing", ["click", "rich", "uvicorn"])
def test_missing_cli_dependency_names_the_service_extra(missing: str) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{missing!r}] = None  # as if not installed\n"
        "from seawall.__main__ import main\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert "pip install 'seawall[service]'" in proc.stderr
    assert missing in proc.stderr
    assert "Traceback" not in proc.stderr


def test_with_the_extra_the_console_script_runs() -> None:
    code = (
        "import sys\nsys.argv = ['seawall', '--help']\nfrom seawall.__main__ import main\nmain()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "serve" in proc.stdout and "demo" in proc.stdout
