"""The transport interface the client sends through, and its aiohttp and httpx implementations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

import aiohttp
from aiohttp import hdrs
from yarl import URL

from seawall.http.errors import ApiConnectionError, ApiTimeout, ConfigurationError
from seawall.http.redact import redact_text, redact_url

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


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What a transport returns: status, headers and the complete body."""

    status: int
    headers: Mapping[str, str]
    content: bytes


@runtime_checkable
class Transport(Protocol):
    """Sends one HTTP request and reads the whole answer; raises ApiTimeout/ApiConnectionError."""

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: Timeouts,
    ) -> RawResponse:
        """Send one request (one attempt) and return the complete response."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections."""
        ...


_CACHE_SIZE = 1024
"""Entries kept per transport cache (parsed URLs, timeout objects) before it starts afresh."""


class _Request(aiohttp.ClientRequest):
    """aiohttp's request, sending no User-Agent unless the caller sets one.

    The session's `skip_auto_headers` would do the same, but it rebuilds a header multidict on
    every request; dropping the one default header afterwards costs two lookups.
    """

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        """Add aiohttp's default headers, then drop its User-Agent if the caller gave none."""
        given = hdrs.USER_AGENT in self.headers
        super().update_auto_headers(skip_auto_headers)
        if not given:
            self.headers.popall(hdrs.USER_AGENT, None)


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
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
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
            auto_decompress=True,
            raise_for_status=False,
            request_class=_Request,
        )
        return self._session

    def _client_timeout(self, timeout: Timeouts) -> aiohttp.ClientTimeout:
        """The aiohttp timeout for `timeout`, built once per distinct value.

        `total` bounds the whole attempt (a trickling body cannot outlive the deadline), so a
        per-read `sock_read` timer would only repeat it at the cost of a timer per chunk.
        """
        found = self._timeouts.get(timeout)
        if found is None:
            found = aiohttp.ClientTimeout(total=timeout.read, connect=timeout.connect)
            if len(self._timeouts) >= _CACHE_SIZE:
                self._timeouts.clear()
            self._timeouts[timeout] = found
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
    ) -> RawResponse:
        """Send one request through the shared pool and read the whole body."""
        session = self._session or self._open()
        try:
            async with session.request(
                method,
                self._url(url),
                headers=headers,
                data=content,
                timeout=self._client_timeout(timeout),
            ) as resp:
                body = await resp.read()
                return RawResponse(resp.status, resp.headers, body)
        except aiohttp.ConnectionTimeoutError:
            raise ApiTimeout(
                f"connect timeout after {timeout.connect:.3f}s", method=method, url=redact_url(url)
            ) from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise ApiTimeout(
                f"read timeout after {timeout.read:.3f}s", method=method, url=redact_url(url)
            ) from None
        except aiohttp.ClientError as exc:
            raise ApiConnectionError(
                f"{type(exc).__name__}: {redact_text(str(exc))}",
                method=method,
                url=redact_url(url),
            ) from None
        except OSError as exc:
            raise ApiConnectionError(
                f"{type(exc).__name__}: {exc.strerror or exc}", method=method, url=redact_url(url)
            ) from None

    async def aclose(self) -> None:
        """Close the session and its pooled connections."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


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
    ) -> RawResponse:
        """Send one request through the wrapped httpx client."""
        httpx = self._httpx
        limits = httpx.Timeout(timeout.read, connect=timeout.connect)
        try:
            async with asyncio.timeout(timeout.read):
                resp = await self._client.request(
                    method, url, headers=dict(headers), content=content, timeout=limits
                )
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
        return RawResponse(resp.status_code, resp.headers, resp.content)

    async def aclose(self) -> None:
        """Close the wrapped client if this adapter created it."""
        if self._owned:
            await self._client.aclose()
