"""Structured logging: JSON lines or key=value, request context from contextvars, secrets redacted.

Context fields (request id, tenant, source, event id, job id) are bound with `log_context(...)`
or `bind_context(...)` and ride along on every record logged inside that context, across awaits.
`LOG_LEVEL` in the environment wins over the configured level. A redaction filter removes
configured secret values and credential-looking key/value pairs from every message.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

__all__ = [
    "CONTEXT_FIELDS",
    "JsonFormatter",
    "KeyValueFormatter",
    "RedactingFilter",
    "bind_context",
    "configure_logging",
    "get_context",
    "log_context",
    "reset_context",
    "resolve_level",
    "set_context",
]

CONTEXT_FIELDS = ("request_id", "tenant", "source", "event_id", "job_id")
"""The context keys every log line carries when they are bound."""

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "seawall_log_context", default=None
)

_RESERVED = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)
_SECRET_KEYS = re.compile(
    r"(?i)\b(password|passwd|secret|token|api[_-]?key|authorization|signature|cookie)"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")
REDACTED = "[REDACTED]"


def get_context() -> dict[str, Any]:
    """A copy of the fields bound in the current context."""
    return dict(_context.get() or {})


def bind_context(**fields: Any) -> contextvars.Token[dict[str, Any] | None]:
    """Add fields to the current context; returns a token for `contextvars` reset."""
    merged = get_context()
    merged.update({k: v for k, v in fields.items() if v is not None})
    return _context.set(merged)


def set_context(fields: dict[str, Any]) -> contextvars.Token[dict[str, Any] | None]:
    """Replace the current context with `fields` (no copy: the cheap form for hot paths such
    as the worker's per-job context); undo with `reset_context(token)`."""
    return _context.set(fields)


def reset_context(token: contextvars.Token[dict[str, Any] | None]) -> None:
    """Restore the context a `set_context` or `bind_context` token replaced."""
    _context.reset(token)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Bind fields for the duration of a `with` block (restored afterwards)."""
    token = bind_context(**fields)
    try:
        yield get_context()
    finally:
        _context.reset(token)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secret values, `key=value` credentials and URL passwords from text."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _SECRET_KEYS.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and extra fields so no secret reaches a handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def add_secret(self, value: str) -> None:
        """Also redact this literal value from now on."""
        if value and value not in self.secrets:
            self.secrets.append(value)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        message = record.getMessage()
        record.msg = redact(message, self.secrets)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key in _RESERVED:
                continue
            if _SECRET_KEYS.fullmatch(f"{key}={value}") or key.lower() in _SECRET_NAMES:
                record.__dict__[key] = REDACTED
            elif isinstance(value, str):
                record.__dict__[key] = redact(value, self.secrets)
        return True


_SECRET_NAMES = frozenset(
    {"password", "secret", "token", "api_key", "apikey", "authorization", "cookie"}
)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    out.update(get_context())
    for key, value in record.__dict__.items():
        if key not in _RESERVED and not key.startswith("_"):
            out[key] = value
    if record.exc_info and record.exc_info[0] is not None:
        out["exc_type"] = record.exc_info[0].__name__
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, context fields, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a JSON line."""
        return json.dumps(_fields(record), default=str, ensure_ascii=False)


def _kv(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    """`ts=... level=... msg="..." key=value` lines, for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as key=value pairs."""
        return " ".join(f"{k}={_kv(v)}" for k, v in _fields(record).items())


def resolve_level(configured: str | None = None) -> int:
    """The log level: `LOG_LEVEL` from the environment, else `configured`, else INFO."""
    name = (os.environ.get("LOG_LEVEL") or configured or "INFO").strip().upper()
    level = logging.getLevelName(name)
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {name!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def configure_logging(
    level: str | None = None,
    fmt: Literal["json", "text"] = "json",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    logger_name: str = "",
) -> RedactingFilter:
    """Install one structured handler on `logger_name` (root by default); returns its filter.

    Calling it again replaces the handler it installed before (never duplicates lines).
    """
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        if getattr(handler, "_seawall", False):
            logger.removeHandler(handler)
    # stdout by default: containers and Lambda collect it (`[logging] stream = "stderr"`).
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler._seawall = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    redactor = RedactingFilter(secrets)
    handler.addFilter(redactor)
    logger.addHandler(handler)
    logger.setLevel(resolve_level(level))
    return redactor
