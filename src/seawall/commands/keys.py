"""Key helpers with the MBC CQRS Serverless framework's names, separators and edge cases.

One deliberate difference: the framework cuts a sort key at its last `@` whatever follows
(`removeSortKeyVersion('USER#a@b.com')` is `'USER#a'`), which corrupts keys holding an e-mail
address. seawall only treats a numeric suffix as a version, so such keys stay whole; a key with
no numeric suffix has no version (`get_sort_key_version` gives VERSION_LATEST, as the framework
does for a key without `@`).
"""

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


def _split(sk: str) -> tuple[str, int | None]:
    head, sep, tail = sk.rpartition(VERSION_SEPARATOR)
    if sep and tail.isdigit():
        return head, int(tail)
    return sk, None


def remove_sort_key_version(sk: str) -> str:
    """`sk` without a trailing `@version` suffix (unchanged when it has none)."""
    return _split(sk)[0]


def get_sort_key_version(sk: str) -> int:
    """The version in a versioned sort key `sk@version`; VERSION_LATEST (-1) when it has none."""
    version = _split(sk)[1]
    return VERSION_LATEST if version is None else version


def get_tenant_code(pk: str) -> str | None:
    """The tenant code of a partition key: the text after its last `#`; None without a `#`."""
    _, sep, tail = pk.rpartition(KEY_SEPARATOR)
    return tail if sep else None
