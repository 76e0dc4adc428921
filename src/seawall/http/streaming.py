"""Streamed responses: bodies read chunk by chunk, for callers who need more than fits in memory.

`ApiClient.stream(...)` runs the request through the route's pipeline up to the status and
headers (deadline, breaker, retries of safe methods), then hands the body over unread. The body
is decoded with the same bounded decoder as whole responses (`seawall.http.body`), limited by
`max_bytes` (None: no limit), and each chunk read is bounded by the route's read timeout, so a
stalled server cannot hold the caller for ever. A non-2xx/3xx answer raises the usual ApiError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp

from seawall.http.body import BodyReader
from seawall.http.errors import ApiTimeout
from seawall.http.redact import redact_url

__all__ = ["StreamedResponse", "read_error_body"]


class StreamedResponse:
    """The status and headers of a response whose body is read with `iter_bytes()`."""

    __slots__ = ("_method", "_raw", "_read_timeout", "_reader", "_url")

    def __init__(
        self,
        raw: aiohttp.ClientResponse,
        *,
        method: str,
        url: str,
        max_bytes: int | None,
        read_timeout: float,
    ) -> None:
        self._raw = raw
        self._method = method
        self._url = url
        self._read_timeout = read_timeout
        # No ratio guard: chunks are handed over as they are decoded, never accumulated.
        self._reader = BodyReader(
            raw.headers, limit=max_bytes, method=method, url=url, max_ratio=float("inf")
        )

    @property
    def status_code(self) -> int:
        """The HTTP status."""
        return self._raw.status

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (case-insensitive)."""
        return self._raw.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Yield the decoded body in chunks; ResponseTooLarge past `max_bytes`."""
        stream = self._raw.content
        reader = self._reader
        while True:
            try:
                async with asyncio.timeout(self._read_timeout):
                    chunk = await stream.readany()
            except TimeoutError:
                raise ApiTimeout(
                    f"no body bytes for {self._read_timeout:.3f}s",
                    method=self._method,
                    url=redact_url(self._url),
                ) from None
            if not chunk:
                break
            for piece in reader.pieces(chunk):
                yield piece
        for piece in reader.rest():
            yield piece


async def read_error_body(
    raw: aiohttp.ClientResponse, *, limit: int | None, method: str, url: str
) -> bytes:
    """The whole (bounded) body of an error answer, for the error's excerpt."""
    reader = BodyReader(raw.headers, limit=limit, method=method, url=url)
    while chunk := await raw.content.readany():
        reader.feed(chunk)
    return reader.finish()
