"""`seawall demo --store aws`: the webhook pipeline on a local AWS endpoint holds its invariants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from seawall.cli import cli
from seawall.demo.aws import AwsDemoOptions, run_aws_demo


def test_every_invariant_holds_with_hostile_deliveries_and_a_flaky_handler() -> None:
    report = run_aws_demo(
        AwsDemoOptions(payments=40, seed=3, duplicate_rate=0.3, forged_rate=0.2, stale_rate=0.1)
    )
    assert report["ok"], report["invariants"]
    assert report["refused"] > 0 and report["deliveries"] > report["payments"]
    assert report["processed"] == 40 and report["dead"] == 3 and report["ledger_entries"] == 40
    assert report["aws_calls_per_job"] >= 2.0  # GetItem + TransactWriteItems at least


def test_the_cli_runs_it_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["demo", "--store", "aws", "--payments", "15", "--report", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Invariants" in result.output
    assert json.loads(out.read_text())["ok"] is True
