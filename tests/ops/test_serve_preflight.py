"""`seawall serve` and `seawall worker` with the store down: one clear message and exit 3."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from seawall.cli import cli

CONFIG = """
[store]
url = "postgresql://postgres@127.0.0.1:1/nowhere"
"""


def test_serve_and_worker_with_postgresql_down_exit_3_with_one_message(tmp_path: Path) -> None:
    config = tmp_path / "seawall.toml"
    config.write_text(CONFIG)
    for command in ("serve", "worker"):
        result = CliRunner().invoke(cli, [command, "--config", str(config)])
        assert result.exit_code == 3, (command, result.output)
        assert result.output.startswith("error: "), result.output
        assert "127.0.0.1" in result.output
        assert "Traceback" not in result.output
