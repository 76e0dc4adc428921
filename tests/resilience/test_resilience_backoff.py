"""Property tests for the backoff schedules: bounds, cap and jitter range."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.resilience import Constant, DecorrelatedJitter, EqualJitter, ExponentialJitter

bases = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)
extra = st.floats(min_value=0.0, max_value=60.0, allow_nan=False)
attempts = st.integers(min_value=1, max_value=5000)
seeds = st.integers(min_value=0, max_value=2**32)


def ceiling(base: float, cap: float, attempt: int) -> float:
    """The reference: min(cap, base * 2**(attempt-1)) computed exactly with fractions."""
    return float(min(Fraction(cap), Fraction(base) * 2 ** (attempt - 1)))


@given(bases, extra, attempts, seeds)
def test_full_jitter_stays_between_zero_and_the_capped_ceiling(
    base: float, more: float, attempt: int, seed: int
) -> None:
    cap = base + more
    delay = ExponentialJitter(base, cap, seed=seed).delay(attempt, 0.0)
    assert 0.0 <= delay <= ceiling(base, cap, attempt) <= cap


@given(bases, extra, attempts, seeds)
def test_equal_jitter_is_at_least_half_the_ceiling(
    base: float, more: float, attempt: int, seed: int
) -> None:
    cap = base + more
    top = ceiling(base, cap, attempt)
    delay = EqualJitter(base, cap, seed=seed).delay(attempt, 0.0)
    assert top / 2 - 1e-12 <= delay <= top + 1e-12


@given(bases, extra, st.lists(attempts, min_size=1, max_size=30), seeds)
def test_decorrelated_jitter_stays_between_base_and_cap(
    base: float, more: float, sequence: list[int], seed: int
) -> None:
    cap = base + more
    schedule = DecorrelatedJitter(base, cap, seed=seed)
    previous = 0.0
    for attempt in sequence:
        delay = schedule.delay(attempt, previous)
        assert min(base, cap) <= delay <= cap
        assert delay <= max(base, previous) * 3 + 1e-9
        previous = delay


@given(st.floats(min_value=0.0, max_value=100.0), attempts)
def test_constant_is_constant(seconds: float, attempt: int) -> None:
    assert Constant(seconds).delay(attempt, 123.0) == seconds


def test_full_jitter_actually_spreads_delays() -> None:
    schedule = ExponentialJitter(1.0, 100.0, seed=3)
    delays = [schedule.delay(5, 0.0) for _ in range(2000)]
    # uniform on [0, 16]: the sample should cover the range, not cluster (no herding)
    assert min(delays) < 1.0
    assert max(delays) > 15.0
    assert 6.5 < sum(delays) / len(delays) < 9.5


def test_same_seed_same_schedule() -> None:
    a = ExponentialJitter(0.1, 10.0, seed=42)
    b = ExponentialJitter(0.1, 10.0, seed=42)
    assert [a.delay(n, 0.0) for n in range(1, 20)] == [b.delay(n, 0.0) for n in range(1, 20)]


@pytest.mark.parametrize("cls", [ExponentialJitter, EqualJitter, DecorrelatedJitter])
def test_bad_parameters_are_named_errors(cls: type[ExponentialJitter]) -> None:
    with pytest.raises(ValueError, match="cap"):
        cls(base=2.0, cap=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        cls(base=-1.0, cap=1.0)
    with pytest.raises(ValueError, match="attempt numbers start at 1"):
        cls(0.1, 1.0).delay(0, 0.0)
    with pytest.raises(ValueError, match=">= 0 seconds"):
        Constant(-1)
