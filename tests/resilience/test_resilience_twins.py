"""The guide's twins in the pure core: with_retry (rules injected, the guide's log lines) and
gather_settled. The HTTP meaning of `seawall.with_retry` is tested in tests/http."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from seawall.resilience import Deadline, RetryAfterTooLong, gather_settled, with_retry
from seawall.resilience.twins import _policies
from seawall.testing import FakeClock

LOGGER = "test.with_retry"


class Flaky(Exception):
    """An error that carries nothing HTTP: no status, no headers."""

    def __init__(self, msg: str = "flaky", retry_after: object = None) -> None:
        super().__init__(msg)
        self.retry_after = retry_after


class Permanent(Exception):
    pass


def failing(errors: list[Exception], value: str = "ok"):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return value

    return fn, calls


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_every_exception_retries_by_default_and_max_retries_counts_total_attempts() -> None:
    clock = FakeClock()
    fn, calls = failing([Flaky()] * 5)
    with pytest.raises(Flaky):
        with_retry(fn, max_retries=3, base_delay_ms=100, clock=clock)
    assert calls["n"] == 3
    assert len(clock.slept) == 2
    # full jitter: each wait is within [0, base * 2**(n-1)]
    assert 0 <= clock.slept[0] <= 0.1 and 0 <= clock.slept[1] <= 0.2


def test_retry_on_is_injected() -> None:
    fn, calls = failing([Permanent()])
    with pytest.raises(Permanent):
        with_retry(fn, clock=FakeClock(), retry_on=lambda exc: not isinstance(exc, Permanent))
    assert calls["n"] == 1


def test_the_retry_after_attribute_is_the_default_hint() -> None:
    clock = FakeClock()
    fn, _ = failing([Flaky(retry_after=7)])
    assert with_retry(fn, base_delay_ms=10, clock=clock) == "ok"
    assert clock.slept == [7.0]


@pytest.mark.parametrize("meaningless", [float("nan"), -5, "soon", True])
def test_a_meaningless_hint_leaves_the_wait_to_the_backoff(meaningless: object) -> None:
    clock = FakeClock()
    fn, _ = failing([Flaky(retry_after=meaningless)])
    assert with_retry(fn, base_delay_ms=10, clock=clock) == "ok"
    assert len(clock.slept) == 1 and 0 <= clock.slept[0] <= 0.01


def test_an_injected_reader_is_judged_by_the_one_numeric_rule() -> None:
    clock = FakeClock()
    fn, _ = failing([Flaky("a"), Flaky("b")])
    hints = iter([float("nan"), 3.0])
    assert with_retry(fn, base_delay_ms=10, clock=clock, retry_after=lambda e: next(hints)) == "ok"
    assert clock.slept[0] <= 0.01 and clock.slept[1] == 3.0
    fn, _ = failing([Flaky()])
    with pytest.raises(RetryAfterTooLong):
        with_retry(fn, clock=clock, retry_after=lambda e: float("inf"))


def test_the_same_seed_gives_the_same_waits_on_every_call() -> None:
    waits = []
    for _ in range(2):
        clock = FakeClock()
        fn, _ = failing([Flaky()] * 2)
        assert with_retry(fn, base_delay_ms=1000, clock=clock, seed=7) == "ok"
        waits.append(clock.slept)
    assert waits[0] == waits[1]


def test_the_policy_built_from_the_same_options_is_reused() -> None:
    clock = FakeClock()
    _policies.clear()
    for _ in range(3):
        assert with_retry(lambda: 1, max_retries=4, clock=clock) == 1
    assert len(_policies) == 1
    with_retry(lambda: 1, max_retries=5, clock=clock)
    with_retry(lambda: 1, max_retries=5, clock=clock, seed=1)  # seeded: never memoised
    assert len(_policies) == 2


def test_the_guide_log_lines_on_retries_and_after_the_last_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    fn, _ = failing([Flaky("boom")] * 3)
    logger = logging.getLogger(LOGGER)
    with caplog.at_level(logging.DEBUG, logger=LOGGER), pytest.raises(Flaky):
        with_retry(fn, max_retries=3, base_delay_ms=1000, logger=logger, clock=clock, seed=3)
    logged = messages(caplog)
    assert [level for level, _ in logged] == [logging.WARNING, logging.WARNING, logging.ERROR]
    for n, ((_, text), slept) in enumerate(zip(logged, clock.slept, strict=False), start=1):
        assert text == f"Attempt {n}/3 failed, retrying in {round(slept * 1000)}ms: boom"
    assert logged[2][1] == "All 3 attempts failed: boom"
    retry_records = [r for r in caplog.records if r.name == LOGGER][:2]
    assert [r.seawall["attempt"] for r in retry_records] == [1, 2]  # type: ignore[attr-defined]


def test_nothing_is_logged_on_success_or_for_an_error_that_does_not_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger(LOGGER)
    fn, _ = failing([Permanent()])
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert with_retry(lambda: "ok", logger=logger, clock=FakeClock()) == "ok"
        with pytest.raises(Permanent):
            with_retry(
                fn,
                logger=logger,
                clock=FakeClock(),
                retry_on=lambda exc: not isinstance(exc, Permanent),
            )
    assert messages(caplog) == []


def test_a_give_up_before_the_last_attempt_is_logged_as_such(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    fn, calls = failing([Flaky("slow down", retry_after=30)] * 3)
    logger = logging.getLogger(LOGGER)
    with (
        caplog.at_level(logging.DEBUG, logger=LOGGER),
        pytest.raises(RetryAfterTooLong),
        Deadline(10.0, clock=clock),
    ):
        with_retry(fn, max_retries=3, logger=logger, clock=clock)
    assert calls["n"] == 1
    assert messages(caplog) == [
        (logging.ERROR, "Attempt 1/3 failed, giving up: a 30000ms wait is not allowed: slow down")
    ]


async def test_async_functions_get_an_awaitable_and_log_the_same_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    errors: list[Exception] = [Flaky("down")]

    async def fn() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    logger = logging.getLogger(LOGGER)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert await with_retry(fn, logger=logger, clock=clock) == "done"
    [(level, text)] = messages(caplog)
    assert level == logging.WARNING
    assert re.fullmatch(r"Attempt 1/3 failed, retrying in \d+ms: down", text)
    assert text == f"Attempt 1/3 failed, retrying in {round(clock.slept[0] * 1000)}ms: down"


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="total attempts"):
        with_retry(lambda: None, max_retries=0)
    with pytest.raises(TypeError, match="int"):
        with_retry(lambda: None, max_retries=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="base_delay_ms"):
        with_retry(lambda: None, base_delay_ms=20_000)


async def test_gather_settled_collects_partial_failures_and_logs_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def ok(x: int) -> int:
        return x

    async def bad(msg: str) -> int:
        raise RuntimeError(msg)

    logger = logging.getLogger("test.settled")
    with caplog.at_level(logging.ERROR, logger="test.settled"):
        settled = await gather_settled(ok(1), bad("a"), lambda: ok(3), bad("b"), logger=logger)
    assert settled.values == [1, 3]
    assert [str(e) for e in settled.errors] == ["a", "b"]
    assert [o.index for o in settled.outcomes if not o.ok] == [1, 3]
    assert not settled.all_ok
    assert caplog.text.count("failed") == 2


async def test_gather_settled_limit_bounds_concurrency() -> None:
    running = 0
    peak = 0

    async def job(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return i

    settled = await gather_settled(*(lambda i=i: job(i) for i in range(50)), limit=4)
    assert settled.values == list(range(50))
    assert peak == 4
    with pytest.raises(ValueError, match="limit"):
        await gather_settled(limit=0)
