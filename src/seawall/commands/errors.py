"""Named errors of the command service, with the HTTP status the framework answers with."""

from __future__ import annotations

__all__ = [
    "CommandError",
    "CommandNotFoundError",
    "InvalidTokenError",
    "VersionConflictError",
]


class CommandError(Exception):
    """Base class of command-service errors; `status_code` is the HTTP answer it maps to."""

    status_code = 400


class VersionConflictError(CommandError):
    """The input version is not the latest (HTTP 409): reload the item and publish again."""

    status_code = 409

    def __init__(self, pk: str, sk: str, expected: int, actual: int) -> None:
        super().__init__(
            f"version conflict on {pk}#{sk}: the command was based on version {expected} but the "
            f"latest is {actual}; reload the item and publish on top of version {actual}"
        )
        self.pk = pk
        self.sk = sk
        self.expected = expected
        self.actual = actual


class CommandNotFoundError(CommandError):
    """A partial update or lookup names an item that does not exist (HTTP 404)."""

    status_code = 404

    def __init__(self, pk: str, sk: str) -> None:
        super().__init__(f"no item {pk}#{sk}; create it with version 0 first")
        self.pk = pk
        self.sk = sk


class InvalidTokenError(CommandError, ValueError):
    """The Authorization bearer token or the roles claim cannot be decoded (HTTP 401)."""

    status_code = 401
