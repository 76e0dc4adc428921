"""A private event-loop thread that lets synchronous code call the async store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _bridge_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="seawall-idempotency-loop", daemon=True
            )
            thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the shared background loop and block until it finishes.

    Stores used through this bridge live on that loop: open a separate Store object for
    synchronous code rather than sharing one with async code on another loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError(
            "a synchronous @idempotent function was called from inside a running event loop; "
            "decorate an async function instead, or call it from a worker thread"
        )
    return asyncio.run_coroutine_threadsafe(coro, _bridge_loop()).result()
