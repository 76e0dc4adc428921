"""Named errors of the command service, with the HTTP status the framework answers with.

- VersionMismatchError (400, the framework's BadRequestException): the input version is not the
  one the rules ask for (publish_sync, partial updates), or `publish_async` names a version `sk@N`
  that does not exist.
- VersionConflictError (409, the framework's ConditionalCheckFailedException): the version was
  right when read but another publish stored the next version first (a lost race). It is a
  VersionMismatchError, so `except VersionMismatchError` handles both ("reload and retry").
- CommandNotFoundError (400): a partial update names an item that does not exist.
"""

from __future__ import annotations

__all__ = [
    "CommandError",
    "CommandNotFoundError",
    "InvalidTokenError",
    "VersionConflictError",
    "VersionMismatchError",
]


class CommandError(Exception):
    """Base class of command-service errors; `status_code` is the HTTP answer it maps to."""

    status_code = 400


class VersionMismatchError(CommandError):
    """The input version does not fit the item (HTTP 400): reload the item and publish again."""

    status_code = 400

    def __init__(self, pk: str, sk: str, expected: int, actual: int) -> None:
        super().__init__(self._message(pk, sk, expected, actual))
        self.pk = pk
        self.sk = sk
        self.expected = expected
        self.actual = actual

    @staticmethod
    def _message(pk: str, sk: str, expected: int, actual: int) -> str:
        return (
            f"invalid input version on {pk}#{sk}: the command was based on version {expected} "
            f"but the item is at version {actual}; reload it and publish on top of version "
            f"{actual}"
        )


class VersionConflictError(VersionMismatchError):
    """Another publish stored the next version first (HTTP 409): reload and publish again."""

    status_code = 409

    @staticmethod
    def _message(pk: str, sk: str, expected: int, actual: int) -> str:
        return (
            f"version conflict on {pk}#{sk}: the command was based on version {expected} but "
            f"version {expected + 1} was stored first (the latest is {actual}); reload the item "
            "and publish again"
        )


class CommandNotFoundError(CommandError):
    """A partial update names an item that does not exist (HTTP 400, as the framework)."""

    status_code = 400

    def __init__(self, pk: str, sk: str) -> None:
        super().__init__(f"invalid input key: no item {pk}#{sk}; create it with version 0 first")
        self.pk = pk
        self.sk = sk


class InvalidTokenError(CommandError, ValueError):
    """The Authorization bearer token or the roles claim cannot be decoded (HTTP 401)."""

    status_code = 401
