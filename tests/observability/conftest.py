"""Fixtures for the log tests: seawall's JSON log lines captured from real output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from seawall.observability.logging import configure_logging


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """seawall's log output as JSON lines in a buffer (DEBUG and up)."""
    stream = io.StringIO()
    # uvicorn's default dictConfig in other tests disables existing loggers: turn ours back on.
    for name, existing in logging.root.manager.loggerDict.items():
        if name.startswith("seawall") and isinstance(existing, logging.Logger):
            existing.disabled = False
    configure_logging("DEBUG", "json", stream=stream, logger_name="seawall")
    yield stream
    logger = logging.getLogger("seawall")
    for handler in list(logger.handlers):
        if getattr(handler, "_seawall", False):
            logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    """Each captured line as the JSON object it is."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
