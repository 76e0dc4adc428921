"""Statements over lists of values: placeholders for an IN list, and lists cut to fit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = ["CHUNK", "chunks", "marks"]

T = TypeVar("T")

CHUNK = 500
"""Values per statement at most: far below SQLite's and PostgreSQL's parameter limits."""


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    """`items` in slices of at most `size` (statements keep under the engines' parameter limits)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(count: int) -> str:
    """`count` comma-separated placeholders."""
    return ", ".join("?" * count)
