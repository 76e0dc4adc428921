"""The blocking transport for SyncApiClient: one thread-safe urllib3 pool.

urllib3 was measured against httpx.Client on this machine (sequential POSTs to a local server):
about 1,300 req/s against about 800, so the sync client uses urllib3.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError

from seawall.http.body import DEFAULT_MAX_RESPONSE_BYTES, BodyReader, declared_length
from seawall.http.errors import ApiConnectionError, ApiTimeout, ConfigurationError
from seawall.http.redact import redact_text, redact_url
from seawall.http.transport import RawResponse, Timeouts

__all__ = ["SyncTransport", "Urllib3Transport"]


class _RedactUrllib3Filter(logging.Filter):
    """Redacts query secrets from urllib3's DEBUG request lines ("GET /path?api_key=... ")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_url(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


_URLLIB3_FILTER = _RedactUrllib3Filter()


def _guard_urllib3_logs() -> None:
    """Install the redacting filter on urllib3's connection pool logger (once)."""
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if _URLLIB3_FILTER not in pool_logger.filters:
        pool_logger.addFilter(_URLLIB3_FILTER)


@runtime_checkable
class SyncTransport(Protocol):
    """Sends one HTTP request and reads the whole answer, blocking; raises ApiTimeout etc."""

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: Timeouts,
        limit: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> RawResponse:
        """Send one request (one attempt) and return the complete response, at most `limit`
        decoded bytes (ResponseTooLarge past it; see `seawall.http.body`)."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...


def _read_body(resp: urllib3.BaseHTTPResponse, limit: int | None, method: str, url: str) -> bytes:
    """The decoded body of `resp`, at most `limit` bytes; ResponseTooLarge past it."""
    headers = resp.headers
    if "Content-Encoding" not in headers:
        length = declared_length(headers)
        if length is not None and (limit is None or length <= limit):
            return resp.read(decode_content=False)  # exactly `length` bytes
    reader = BodyReader(headers, limit=limit, method=method, url=url)
    for chunk in resp.stream(64 * 1024, decode_content=False):
        reader.feed(chunk)
    return reader.finish()


class Urllib3Transport:
    """A urllib3 PoolManager keeping up to `maxsize` connections per host (thread-safe).

    urllib3's read timeout bounds each socket read, so a server trickling bytes slower than the
    timeout per read can stretch one attempt; the deadline still stops further attempts.
    urllib3 logs request paths at DEBUG; a filter on its logger redacts secret query values.
    """

    def __init__(self, *, maxsize: int = 32, num_pools: int = 16) -> None:
        if maxsize < 1 or num_pools < 1:
            raise ConfigurationError("maxsize and num_pools must be >= 1")
        _guard_urllib3_logs()
        self._pool = urllib3.PoolManager(num_pools=num_pools, maxsize=maxsize, block=False)

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: Timeouts,
        limit: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> RawResponse:
        """Send one request through the pool and read the whole body, bounded by `limit`."""
        try:
            resp = self._pool.request(
                method,
                url,
                body=content,
                headers=dict(headers),
                timeout=urllib3.Timeout(connect=timeout.connect, read=timeout.read),
                retries=False,
                redirect=False,
                preload_content=False,
                decode_content=False,
            )
            try:
                data = _read_body(resp, limit, method, url)
            except BaseException:
                resp.close()  # unread body: never hand this connection back for reuse
                raise
            resp.release_conn()
        except ConnectTimeoutError:
            raise ApiTimeout(
                f"connect timeout after {timeout.connect:.3f}s", method=method, url=redact_url(url)
            ) from None
        except ReadTimeoutError:
            raise ApiTimeout(
                f"read timeout after {timeout.read:.3f}s", method=method, url=redact_url(url)
            ) from None
        except (HTTPError, OSError) as exc:
            raise ApiConnectionError(
                f"{type(exc).__name__}: {redact_text(str(exc))}",
                method=method,
                url=redact_url(url),
            ) from None
        return RawResponse(resp.status, resp.headers, data)

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()
