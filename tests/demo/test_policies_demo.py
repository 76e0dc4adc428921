"""The resilience demo runs on a fake clock and shows every policy at work."""

from __future__ import annotations

import io
import time

from rich.console import Console

from seawall.demo.policies import run_resilience_demo


def test_demo_shows_retries_breaker_fallback_budget_and_deadline() -> None:
    out = io.StringIO()
    started = time.monotonic()
    assert run_resilience_demo(Console(file=out, width=120), seed=7) == 0
    assert time.monotonic() - started < 5.0  # nothing sleeps for real
    text = out.getvalue()
    assert "CLOSED->OPEN, OPEN->HALF_OPEN, HALF_OPEN->CLOSED" in text
    assert "cached (CircuitOpenError)" in text
    assert "stopped by the budget" in text
    assert "RetryAfterTooLong" in text


def test_demo_is_deterministic_for_a_seed() -> None:
    first, second = io.StringIO(), io.StringIO()
    run_resilience_demo(Console(file=first, width=120), seed=3)
    run_resilience_demo(Console(file=second, width=120), seed=3)
    assert first.getvalue() == second.getvalue()


def test_the_cli_runs_the_policies_tour() -> None:
    from click.testing import CliRunner

    from seawall.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--policies", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "circuit" in result.output.lower()
    assert "fallback" in result.output.lower()
