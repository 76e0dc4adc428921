"""Fallback: a value, or a function of the error, served when the protected call fails."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["Fallback"]

_MISSING: Any = object()


class Fallback:
    """Serve `value` (or `factory(exc)`, sync or async) when the call raises one of `on`.

    Like the guide's `getFallbackResource`. `on` is a tuple of exception types or a predicate;
    by default every Exception falls back (cancellation never does).
    """

    __slots__ = ("_pred", "_types", "factory", "value")

    def __init__(
        self,
        value: Any = _MISSING,
        *,
        factory: Callable[[BaseException], Any] | None = None,
        on: tuple[type[BaseException], ...]
        | type[BaseException]
        | Callable[[BaseException], bool] = (Exception,),
    ) -> None:
        if (value is _MISSING) == (factory is None):
            raise ValueError("give a Fallback exactly one of: a value, or factory=")
        self.value = value
        self.factory = factory
        if isinstance(on, type):
            on = (on,)
        if isinstance(on, tuple):
            self._types: tuple[type[BaseException], ...] | None = on
            self._pred: Callable[[BaseException], bool] | None = None
        elif callable(on):
            self._types = None
            self._pred = on
        else:
            raise TypeError("Fallback(on=...) takes exception types or a predicate")

    def applies(self, exc: BaseException) -> bool:
        """True when `exc` should be answered with the fallback."""
        if not isinstance(exc, Exception):
            return False
        if self._types is not None:
            return isinstance(exc, self._types)
        assert self._pred is not None
        return bool(self._pred(exc))

    def resolve(self, exc: BaseException) -> Any:
        """The fallback for `exc` (may be an awaitable when the factory is async)."""
        if self.factory is None:
            return self.value
        return self.factory(exc)

    async def resolve_async(self, exc: BaseException) -> Any:
        """The fallback for `exc`, awaiting an async factory's result."""
        out = self.resolve(exc)
        if inspect.isawaitable(out):
            return await out
        return out
