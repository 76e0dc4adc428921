"""`sharing_state`: another failure rule over the same breaker state, the original untouched."""

from __future__ import annotations

import pytest

from seawall.resilience import CircuitBreaker, CircuitOpenError, CircuitState
from seawall.testing import FakeClock


def _fail(exc: BaseException) -> None:
    raise exc


def test_a_view_shares_state_but_not_the_rule() -> None:
    clock = FakeClock()
    original = CircuitBreaker(failure_threshold=2, reset_timeout_ms=1000, clock=clock)
    view = original.sharing_state(is_failure=lambda exc: isinstance(exc, ConnectionError))
    assert original.is_failure is None and view.is_failure is not None
    for _ in range(3):  # the view's rule says a ValueError is not the dependency's fault
        with pytest.raises(ValueError):
            view.execute(lambda: _fail(ValueError("bad input")))
    assert original.state is CircuitState.CLOSED
    for _ in range(2):
        with pytest.raises(ConnectionError):
            view.execute(lambda: _fail(ConnectionError("down")))
    assert original.state is CircuitState.OPEN and view.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        original.execute(lambda: 1)
    original.reset()
    assert view.state is CircuitState.CLOSED and view.execute(lambda: 7) == 7
