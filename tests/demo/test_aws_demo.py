"""`seawall demo --store aws`: the payment demo on a local AWS endpoint keeps the 8 invariants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from seawall.cli import cli
from seawall.demo.aws import AWS_DIFFERENCES


def test_the_cli_runs_the_payment_demo_on_aws_and_every_invariant_holds(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "demo",
            "--store",
            "aws",
            "--payments",
            "24",
            "--seed",
            "3",
            "--refund-rate",
            "0.3",
            "--forged-rate",
            "0.2",
            "--report",
            str(out),
        ],
    )
    assert out.exists(), result.output
    report = json.loads(out.read_text())
    assert result.exit_code == 0, (result.output, report["invariants"])
    assert report["ok"] is True and report["store"] == "aws"
    assert sorted(report["invariants"]) == sorted(
        [
            "no_duplicate_charges",
            "every_order_recorded",
            "records_match_provider",
            "no_forged_or_stale_webhook_accepted",
            "every_webhook_acknowledged",
            "every_acknowledged_webhook_stored",
            "every_stored_webhook_processed",
            "no_jobs_left_or_dead",
        ]
    )
    assert report["consistency"] == {
        "orders": 24,
        "consistent": 24,
        "inconsistent": 0,
        "mismatches": [],
    }
    assert report["payments"]["refunds_submitted"] > 0
    assert report["webhooks"]["rejected_forged"] > 0 and report["webhooks"]["processed"] > 24
    calls = report["aws"]["calls"]
    assert calls["dynamodb.TransactWriteItems"] > 0 and calls["sqs.ReceiveMessage"] > 0
    assert report["aws"]["differences"] == list(AWS_DIFFERENCES)
    assert "All 8 invariants hold" in result.output and "Where it differs from SQL" in result.output


def test_the_sql_only_options_are_refused_with_aws() -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--store", "aws", "--worker-processes", "1", "--chaos-kills", "1"]
    )
    assert result.exit_code == 2
    assert "for the SQL stores" in result.output
