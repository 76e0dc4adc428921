"""Finish awaiting a coroutine whose first step the caller already ran with `send(None)`.

A pipeline attempt steps the callee once by hand: most calls that finish without suspending
need no cancellation timer at all, since a timer cannot fire while the task never yields. Only
when the callee suspends is the timer armed, and `resume` then hands the pending future to the
task and carries on exactly as `await` would (send, throw and close are forwarded).
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["resume"]


@types.coroutine
def resume(coro: Coroutine[Any, Any, Any], step: Any) -> Generator[Any, Any, Any]:
    """Await the rest of `coro`, which has just yielded `step` to its caller."""
    while True:
        try:
            sent = yield step
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                step = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            if sent is None:
                # The usual case: hand the rest to the interpreter's own delegation.
                return (yield from coro)
            try:
                step = coro.send(sent)
            except StopIteration as stop:
                return stop.value
