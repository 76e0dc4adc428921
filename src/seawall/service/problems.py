"""seawall's errors as `application/problem+json` answers (RFC 9457) for Starlette and FastAPI.

`exception_handlers()` is the mapping `Starlette(exception_handlers=...)` takes;
`add_problem_handlers` installs it on an existing Starlette or FastAPI app. An error that carries
its own `status_code` (the command service's: `VersionConflictError` 409, `VersionMismatchError`
and `CommandNotFoundError` 400, ...) answers with it; the others answer with their row's status
in `STATUSES`. A `retry_after` on the error becomes a `Retry-After` header.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from seawall.commands.errors import CommandError
from seawall.http.errors import ApiError, ApiTimeout
from seawall.idempotency.errors import (
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
)
from seawall.payments.models import PaymentRequestError
from seawall.resilience.errors import (
    BulkheadFull,
    CircuitOpenError,
    DeadlineExceeded,
    RateLimited,
    RetryBudgetExhausted,
)

__all__ = ["STATUSES", "add_problem_handlers", "exception_handlers", "problem_response"]

Handler = Callable[[Request, Exception], Awaitable[Response]]

# The most specific class first: the first row an error is an instance of gives its status.
STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (CommandError, 400),  # the error's own status_code wins (409, 401)
    (IdempotencyInProgressError, 409),
    (IdempotencyKeyMismatchError, 422),
    (IdempotencyKeyError, 400),
    (IdempotencyError, 500),
    (PaymentRequestError, 400),
    (RateLimited, 429),
    (CircuitOpenError, 503),
    (BulkheadFull, 503),
    (RetryBudgetExhausted, 503),
    (ApiTimeout, 504),
    (DeadlineExceeded, 504),
    (ApiError, 502),
)


def status_for(exc: Exception) -> int:
    """The HTTP status `exc` answers with (its own `status_code` when it carries one)."""
    own = getattr(exc, "status_code", None)
    if isinstance(own, int) and 400 <= own <= 599:
        return own
    for cls, status in STATUSES:
        if isinstance(exc, cls):
            return status
    return 500


async def problem_response(request: Request, exc: Exception) -> Response:
    """The problem+json answer for `exc`: type, title, status, detail and the request path."""
    status = status_for(exc)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": type(exc).__name__,
        "status": status,
        "detail": "internal error" if status == 500 else str(exc),
        "instance": request.url.path,
    }
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and math.isfinite(retry_after) and retry_after > 0:
        headers["Retry-After"] = str(math.ceil(retry_after))
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def exception_handlers() -> Mapping[type[Exception], Handler]:
    """Every mapped error class to `problem_response` (for `exception_handlers=`)."""
    return {cls: problem_response for cls, _ in STATUSES}


def add_problem_handlers(app: Starlette) -> None:
    """Install the handlers on a Starlette or FastAPI app (`app.add_exception_handler`)."""
    for cls, handler in exception_handlers().items():
        app.add_exception_handler(cls, handler)
