"""What text every engine can hold: the one rule for ids, names and filters that reach SQL.

PostgreSQL refuses NUL in text; SQLite and PostgreSQL both refuse strings that are not valid
UTF-8 (a lone surrogate). A value that fails this rule is refused before it reaches a statement,
so it gets a clear error instead of a database error, and never fails a batch it would join.
"""

from __future__ import annotations

__all__ = ["storable_text"]


def storable_text(text: str) -> bool:
    """True when every engine can hold `text` (no NUL, no lone surrogate)."""
    if "\x00" in text:
        return False
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True
