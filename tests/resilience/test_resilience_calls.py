"""`is_coroutine_function` answers exactly as `inspect.iscoroutinefunction`, only faster."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pytest

from seawall.resilience.calls import is_coroutine_function


async def coro() -> int:
    return 1


def plain() -> int:
    return 1


class Thing:
    async def method(self) -> int:
        return 1

    def sync_method(self) -> int:
        return 1

    async def __call__(self) -> int:
        return 1


@functools.wraps(coro)
def wrapped_sync() -> Any:
    return coro()


@functools.wraps(plain)
async def wrapped_async() -> int:
    return 1


def tagged() -> int:
    return 1


tagged.note = "an attribute"  # type: ignore[attr-defined]

CASES = [
    coro,
    plain,
    Thing().method,
    Thing().sync_method,
    Thing(),
    functools.partial(coro),
    functools.partial(plain),
    wrapped_sync,
    wrapped_async,
    tagged,
    lambda: 1,
    print,
    None,
    1,
]


@pytest.mark.parametrize("fn", CASES)
def test_same_answer_as_inspect(fn: object) -> None:
    assert is_coroutine_function(fn) is inspect.iscoroutinefunction(fn)


@pytest.mark.skipif(not hasattr(inspect, "markcoroutinefunction"), reason="Python 3.12+")
def test_a_function_marked_as_coroutine_function_counts() -> None:
    def marked() -> Any:
        return coro()

    inspect.markcoroutinefunction(marked)  # type: ignore[attr-defined]
    assert is_coroutine_function(marked)
