"""The transport interface the client sends through, and its aiohttp and httpx implementations."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from time import monotonic
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

import aiohttp
from yarl import URL

from seawall.http.body import DEFAULT_MAX_RESPONSE_BYTES, BodyReader, declared_length
from seawall.http.errors import ApiConnectionError, ApiTimeout, ConfigurationError
from seawall.http.redact import redact_text, redact_url
from seawall.resilience.watchdog import arm_at, finish

if TYPE_CHECKING:
    import httpx

__all__ = [
    "AiohttpTransport",
    "HttpxTransport",
    "RawResponse",
    "Timeouts",
    "Transport",
]


class Timeouts(NamedTuple):
    """Per-attempt timeouts in seconds: connect (TCP + TLS) and read (whole response).

    The clients validate them (positive numbers) when they are configured.
    """

    connect: float
    read: float


class RawResponse(NamedTuple):
    """What a transport returns: status, headers and the complete body."""

    status: int
    headers: Mapping[str, str]
    content: bytes


@runtime_checkable
class Transport(Protocol):
    """Sends one HTTP request and reads the whole answer; raises ApiTimeout/ApiConnectionError.

    A transport must end each attempt within `timeout.read` (the clients rely on it: they cap
    it by the time left in the call's deadline instead of cancelling the attempt themselves),
    and must raise ResponseTooLarge rather than hold a body of more than `limit` decoded bytes
    (None: no limit); `BodyReader` does both the counting and the bounded decoding.
    """

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: Timeouts,
        limit: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> RawResponse:
        """Send one request (one attempt) and return the complete, decoded response."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections."""
        ...


_CACHE_SIZE = 1024
"""Entries kept per transport cache (parsed URLs, timeout objects) before it starts afresh."""


class AiohttpTransport:
    """The default transport: one aiohttp ClientSession and TCPConnector pool, created lazily.

    `limit` bounds open connections in total and `limit_per_host` per host; size them for the
    concurrency you run (the defaults suit 100 concurrent callers). DNS answers are cached for
    `ttl_dns_cache` seconds. The session is created on first use inside the running event loop.
    """

    def __init__(
        self,
        *,
        limit: int = 100,
        limit_per_host: int = 0,
        ttl_dns_cache: int = 300,
        keepalive_timeout: float = 30.0,
        ssl: bool | None = None,
    ) -> None:
        if limit < 0 or limit_per_host < 0:
            raise ConfigurationError("connection limits must be >= 0 (0 means unlimited)")
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._ttl_dns_cache = ttl_dns_cache
        self._keepalive_timeout = keepalive_timeout
        self._ssl = ssl
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}

    def _open(self) -> aiohttp.ClientSession:
        """Create the pooled session (once, inside the running loop)."""
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            limit_per_host=self._limit_per_host,
            ttl_dns_cache=self._ttl_dns_cache,
            keepalive_timeout=self._keepalive_timeout,
            ssl=True if self._ssl is None else self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            # BodyReader decodes with a bounded output; aiohttp would inflate a bomb whole.
            auto_decompress=False,
            raise_for_status=False,
        )
        return self._session

    def _connect_timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for opening a connection (TCP + TLS), built once per value.

        The read timeout bounds the whole attempt with seawall's watchdog (see `send`), which
        costs a dict insert where aiohttp's `total` costs a timer on the loop's heap per request.
        """
        found = self._timeouts.get(seconds)
        if found is None:
            found = aiohttp.ClientTimeout(total=None, sock_connect=seconds)
            if len(self._timeouts) >= _CACHE_SIZE:
                self._timeouts.clear()
            self._timeouts[seconds] = found
        return found

    def _url(self, url: str) -> URL:
        """The parsed URL for `url`, parsed once per distinct string."""
        found = self._urls.get(url)
        if found is None:
            found = URL(url)
            if len(self._urls) >= _CACHE_SIZE:
                self._urls.clear()
            self._urls[url] = found
        return found

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: Timeouts,
        limit: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> RawResponse:
        """Send one request through the shared pool and read the whole body.

        `timeout.read` bounds the whole attempt (connection, request, answer, body): a trickling
        body cannot outlive it. `timeout.connect` bounds opening a new connection. The body is
        bounded by `limit` decoded bytes (see `seawall.http.body`).
        """
        session = self._session or self._open()
        target = self._urls.get(url) or self._url(url)
        limits = self._timeouts.get(timeout.connect) or self._connect_timeout(timeout.connect)
        guard = arm_at(monotonic() + timeout.read)
        try:
            # Awaited rather than entered: `release()` is all the context manager would add.
            resp = await session.request(
                method,
                target,
                headers=headers,
                data=content,
                timeout=limits,
                allow_redirects=False,  # 3xx is returned to the caller, as by every transport
            )
            try:
                body = await _read_body(resp, limit, method, url)
            except BaseException:
                resp.close()  # the rest of the body is unread: the connection cannot be reused
                raise
            resp.release()
        except BaseException as exc:
            if finish(guard, exc):
                raise ApiTimeout(
                    f"read timeout after {timeout.read:.3f}s", method=method, url=redact_url(url)
                ) from None
            error = _aiohttp_error(exc, method, url, timeout)
            if error is None:
                raise
            raise error from None
        finish(guard, None)
        return RawResponse(resp.status, resp.headers, body)

    async def open(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: Timeouts,
    ) -> aiohttp.ClientResponse:
        """Send one request and return as soon as the status and headers are in.

        The body is left unread for `ApiClient.stream`; `timeout.read` bounds the wait for the
        headers only. The caller must `close()` or `release()` the response.
        """
        session = self._session or self._open()
        limits = self._connect_timeout(timeout.connect)
        try:
            async with asyncio.timeout(timeout.read):
                return await session.request(
                    method,
                    self._url(url),
                    headers=headers,
                    data=content,
                    timeout=limits,
                    allow_redirects=False,
                )
        except TimeoutError:
            raise ApiTimeout(
                f"read timeout after {timeout.read:.3f}s", method=method, url=redact_url(url)
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            error = _aiohttp_error(exc, method, url, timeout)
            if error is None:
                raise
            raise error from None

    async def aclose(self) -> None:
        """Close the session and its pooled connections."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


async def _read_body(
    resp: aiohttp.ClientResponse, limit: int | None, method: str, url: str
) -> bytes:
    """The decoded body of `resp`, at most `limit` bytes; ResponseTooLarge past it."""
    headers = resp.headers
    if "Content-Encoding" not in headers:
        length = declared_length(headers)
        if length is not None and (limit is None or length <= limit):
            return await resp.read()  # exactly `length` bytes: nothing more to guard
    reader = BodyReader(headers, limit=limit, method=method, url=url)
    stream = resp.content
    while chunk := await stream.readany():
        reader.feed(chunk)
    return reader.finish()


def _aiohttp_error(
    exc: BaseException, method: str, url: str, timeout: Timeouts
) -> ApiTimeout | ApiConnectionError | None:
    """The seawall error for an aiohttp failure, or None to let `exc` through unchanged."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ApiTimeout(
            f"connect timeout after {timeout.connect:.3f}s", method=method, url=redact_url(url)
        )
    if isinstance(exc, (TimeoutError, aiohttp.ServerTimeoutError)):
        return ApiTimeout(
            f"read timeout after {timeout.read:.3f}s", method=method, url=redact_url(url)
        )
    if isinstance(exc, aiohttp.ClientError):
        return ApiConnectionError(
            f"{type(exc).__name__}: {redact_text(str(exc))}", method=method, url=redact_url(url)
        )
    if isinstance(exc, OSError):
        return ApiConnectionError(
            f"{type(exc).__name__}: {exc.strerror or exc}", method=method, url=redact_url(url)
        )
    return None


class HttpxTransport:
    """An adapter for an existing `httpx.AsyncClient` (slower than aiohttp under concurrency)."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        import httpx

        self._httpx = httpx
        self._client = client if client is not None else httpx.AsyncClient()
        self._owned = client is None

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: Timeouts,
        limit: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> RawResponse:
        """Send one request through the wrapped httpx client, the body bounded by `limit`."""
        httpx = self._httpx
        limits = httpx.Timeout(timeout.read, connect=timeout.connect)
        try:
            async with (
                asyncio.timeout(timeout.read),
                self._client.stream(
                    method,
                    url,
                    headers=dict(headers),
                    content=content,
                    timeout=limits,
                    follow_redirects=False,
                ) as resp,
            ):
                reader = BodyReader(resp.headers, limit=limit, method=method, url=url)
                async for chunk in resp.aiter_raw():
                    reader.feed(chunk)
                body = reader.finish()
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            raise ApiTimeout(
                f"connect timeout after {timeout.connect:.3f}s", method=method, url=redact_url(url)
            ) from None
        except (httpx.TimeoutException, TimeoutError):
            raise ApiTimeout(
                f"read timeout after {timeout.read:.3f}s", method=method, url=redact_url(url)
            ) from None
        except httpx.TransportError as exc:
            raise ApiConnectionError(
                f"{type(exc).__name__}: {redact_text(str(exc))}",
                method=method,
                url=redact_url(url),
            ) from None
        return RawResponse(resp.status_code, resp.headers, body)

    async def aclose(self) -> None:
        """Close the wrapped client if this adapter created it."""
        if self._owned:
            await self._client.aclose()
