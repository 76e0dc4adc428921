"""`serve` and `worker` refuse to start without being told where the store is (no stray db)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_without_a_config_they_refuse_and_create_nothing(
    invoke, tmp_path: Path, command: str
) -> None:  # type: ignore[no-untyped-def]
    result = invoke(command)
    assert result.exit_code == 2
    assert "pass --config seawall.toml" in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing may be created in the working directory"
