"""Telling coroutine functions from plain ones cheaply, on every call of a policy's `execute`.

`inspect.iscoroutinefunction` unwraps methods and partials on each call (about 0.5 us); a plain
function (the common case: a `def` or `async def` passed as is) is answered from its code flags.
Anything else, and a plain function carrying attributes (a marker set by
`inspect.markcoroutinefunction` on Python 3.12+, or `functools.wraps` metadata), is left to
`inspect.iscoroutinefunction`, so the answer is always the same as its answer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from types import FunctionType
from typing import Any, TypeGuard

__all__ = ["is_coroutine_function"]

_CO_COROUTINE = inspect.CO_COROUTINE


def is_coroutine_function(fn: object) -> TypeGuard[Callable[..., Coroutine[Any, Any, Any]]]:
    """True when calling `fn` returns a coroutine, as `inspect.iscoroutinefunction` says."""
    if type(fn) is FunctionType:
        if fn.__code__.co_flags & _CO_COROUTINE:
            return True
        if not fn.__dict__:
            return False
    return inspect.iscoroutinefunction(fn)
