"""Bounded response bodies: a size limit counted after decompression, and a ratio guard.

Both transports read the raw (still compressed) bytes off the wire and feed them to one
`BodyReader`, which decodes `gzip` and `deflate` itself with a bounded output per step, so a
compressed bomb never expands past the limit in memory. The rules:

- `Content-Length` above the limit fails before any byte of the body is read;
- the decoded body may not exceed `max_bytes` (the client's `max_response_bytes`, 10 MiB by
  default, per client and per route);
- once the decoded body passes `RATIO_FLOOR` bytes, it may be at most `max_ratio` times the
  compressed bytes consumed so far (a 200 KB body expanding to 200 MB fails at about 1 MiB);
- an encoding other than identity, gzip and deflate is passed through undecoded (the client
  advertises only `gzip, deflate`).

Exceeding any of them raises `ResponseTooLarge`: not retried (the same request would get the same
body) and not counted by the circuit breaker (the dependency is up).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping

from seawall.http.errors import ApiConnectionError, ResponseTooLarge
from seawall.http.redact import redact_url

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_RATIO",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "RATIO_FLOOR",
    "BodyReader",
    "declared_length",
]

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
"""The default limit of a decoded response body: 10 MiB."""

DEFAULT_MAX_RATIO = 100
"""Decoded bytes allowed per received byte once a body is past RATIO_FLOOR."""

RATIO_FLOOR = 1024 * 1024
"""Decoded size below which the ratio guard does not apply (small JSON compresses well)."""

ACCEPT_ENCODING = "gzip, deflate"
"""The encodings BodyReader decodes, advertised on every request."""

_STEP = 64 * 1024
"""Most decoded bytes produced from one step of the decompressor."""


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The response's Content-Length as an int, or None when absent or not a number."""
    value = headers.get("Content-Length")
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() and value.isascii() else None


class BodyReader:
    """Collects one response body from raw chunks, decoding and bounding it as it goes."""

    __slots__ = ("_chunks", "_decoder", "_max_ratio", "_size", "_wire", "limit", "method", "url")

    def __init__(
        self,
        headers: Mapping[str, str],
        *,
        limit: int | None,
        method: str,
        url: str,
        max_ratio: float = DEFAULT_MAX_RATIO,
    ) -> None:
        self.limit = limit
        self.method = method
        self.url = url
        self._max_ratio = max_ratio
        self._chunks: list[bytes] = []
        self._size = 0
        self._wire = 0
        encoding = (headers.get("Content-Encoding") or "").strip().lower()
        self._decoder: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)
        if limit is not None:
            declared = declared_length(headers)
            if declared is not None and declared > limit:
                raise self._too_large(f"Content-Length {declared} is over the limit")

    def feed(self, raw: bytes) -> None:
        """Add the next raw chunk off the wire; raise ResponseTooLarge past a limit."""
        self._chunks.extend(self.pieces(raw))

    def finish(self) -> bytes:
        """The whole decoded body, once the wire is done."""
        self._chunks.extend(self.rest())
        return b"".join(self._chunks)

    def pieces(self, raw: bytes) -> Iterator[bytes]:
        """Decode the next raw chunk step by step (at most 64 KiB a step), counting each step."""
        decoder = self._decoder
        if decoder is None:
            if raw:
                self._wire += len(raw)
                yield self._count(raw)
            return
        data = raw
        while data:
            try:
                out = decoder.decompress(data, _STEP)
            except zlib.error as exc:
                raise self._broken(exc) from None
            rest = decoder.unconsumed_tail
            self._wire += len(data) - len(rest)  # compressed bytes this step consumed
            if out:
                yield self._count(out)
            data = rest

    def rest(self) -> Iterator[bytes]:
        """The decoded bytes still inside the decompressor once the wire is done."""
        decoder = self._decoder
        if decoder is None:
            return
        try:
            while out := decoder.decompress(decoder.unconsumed_tail, _STEP):
                yield self._count(out)
            if tail := decoder.flush():
                yield self._count(tail)
        except zlib.error as exc:
            raise self._broken(exc) from None

    def _count(self, data: bytes) -> bytes:
        """Count decoded bytes against the limit and the ratio guard; return them."""
        self._size += len(data)
        limit = self.limit
        if limit is not None and self._size > limit:
            raise self._too_large(f"body passed {limit} bytes")
        if self._size > RATIO_FLOOR and self._size > self._wire * self._max_ratio:
            raise self._too_large(
                f"body expanded to {self._size} bytes from {self._wire} "
                f"(over {self._max_ratio:g}x: a decompression bomb?)"
            )
        return data

    def _too_large(self, why: str) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"response too large: {why} (max_response_bytes={self.limit})",
            method=self.method,
            url=redact_url(self.url),
            limit=self.limit,
        )

    def _broken(self, exc: zlib.error) -> ApiConnectionError:
        return ApiConnectionError(
            f"response body could not be decoded: {exc}",
            method=self.method,
            url=redact_url(self.url),
        )
