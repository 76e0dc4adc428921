"""Key helpers with the MBC CQRS Serverless framework's names and separators."""

from __future__ import annotations

__all__ = [
    "KEY_SEPARATOR",
    "VERSION_FIRST",
    "VERSION_LATEST",
    "VERSION_SEPARATOR",
    "add_sort_key_version",
    "generate_id",
    "get_sort_key_version",
    "get_tenant_code",
    "remove_sort_key_version",
]

KEY_SEPARATOR = "#"
VERSION_SEPARATOR = "@"
VERSION_FIRST = 0
VERSION_LATEST = -1


def generate_id(pk: str, sk: str) -> str:
    """The item id of a key: `pk#sk` (any version suffix of `sk` removed)."""
    return f"{pk}{KEY_SEPARATOR}{remove_sort_key_version(sk)}"


def add_sort_key_version(sk: str, version: int) -> str:
    """The versioned sort key `sk@version` under which a command is stored."""
    return f"{remove_sort_key_version(sk)}{VERSION_SEPARATOR}{version}"


def remove_sort_key_version(sk: str) -> str:
    """`sk` without a trailing `@version` suffix (unchanged when it has none)."""
    head, sep, tail = sk.rpartition(VERSION_SEPARATOR)
    if sep and tail.lstrip("-").isdigit():
        return head
    return sk


def get_sort_key_version(sk: str) -> int | None:
    """The version in a versioned sort key `sk@version`, or None when it has none."""
    _, sep, tail = sk.rpartition(VERSION_SEPARATOR)
    if sep and tail.lstrip("-").isdigit():
        return int(tail)
    return None


def get_tenant_code(pk: str) -> str:
    """The tenant code of a partition key: the text after its last `#` (all of it if none)."""
    return pk.rpartition(KEY_SEPARATOR)[2]
