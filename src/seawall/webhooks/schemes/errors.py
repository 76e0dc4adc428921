"""Why a webhook was refused: the reason vocabulary and the one exception the schemes raise."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FailureReason", "VerificationError"]


class FailureReason(StrEnum):
    """A machine-readable reason a request was refused (stable strings for metrics and logs)."""

    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    NO_SECRET = "no_secret"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    INVALID_TIMESTAMP = "invalid_timestamp"
    # Raised by the receiver (which reads the body), never by a scheme; listed here so that
    # every refusal shares one vocabulary.
    BODY_TOO_LARGE = "body_too_large"


class VerificationError(Exception):
    """A webhook failed verification: `reason` (a FailureReason) and a human `message`."""

    def __init__(self, reason: FailureReason, message: str, *, scheme: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.scheme = scheme

    def __repr__(self) -> str:
        return f"VerificationError({self.reason.value!r}, {self.message!r})"
