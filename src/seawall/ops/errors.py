"""The operator layer's one error: something an operator asked for cannot be done, and why."""

from __future__ import annotations

__all__ = ["NotFoundError", "OperatorError"]


class OperatorError(Exception):
    """An operator action failed; the message says what happened and what to do next."""


class NotFoundError(OperatorError):
    """The event, job or breaker an operator named does not exist."""
