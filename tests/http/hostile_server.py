"""A hostile HTTP/1.1 server on 127.0.0.1, in a thread of its own, for the client bound tests.

Paths:
- `/endless`: a chunked body that never ends (64 KiB chunks as fast as the client reads);
- `/bomb`: a small gzip body that inflates to `BOMB_BYTES` of zeros;
- `/huge-length`: `Content-Length: 2000000000`, then one byte every 50 ms;
- `/gzip-json`: a small, honest gzip-encoded JSON body;
- `/redirect-other-host`: 302 to another host (`localhost` on the same port) with `Location`;
- `/echo-auth`: answers with the Authorization header it received (JSON);
- `/retry-after/<value>`: 503 with `Retry-After: <value>`.
It counts requests per path, so tests can tell a retry from none.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections import Counter
from types import TracebackType
from typing import Self

BOMB_BYTES = 64 * 1024 * 1024
_BOMB = gzip.compress(bytes(BOMB_BYTES), compresslevel=9)
_GZIP_JSON = gzip.compress(json.dumps({"ok": True, "items": list(range(100))}).encode())


class HostileServer:
    """Start with `with HostileServer() as server:`; `server.url` is its base URL."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.auth_seen: list[str | None] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL, on 127.0.0.1."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        )
        self._server = started.result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                length = int(headers.get("content-length", "0"))
                if length:
                    await reader.readexactly(length)
                self.requests[path.split("/")[1]] += 1
                await self._answer(path, headers, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _answer(self, path: str, headers: dict[str, str], w: asyncio.StreamWriter) -> None:
        if path == "/endless":
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
            while True:
                w.write(chunk)
                await w.drain()
        elif path == "/bomb":
            w.write(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(_BOMB), _BOMB)
            )
        elif path == "/huge-length":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n")
            while True:
                w.write(b"x")
                await w.drain()
                await asyncio.sleep(0.05)
        elif path == "/gzip-json":
            w.write(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(_GZIP_JSON), _GZIP_JSON)
            )
        elif path == "/redirect-other-host":
            location = f"http://localhost:{self.port}/echo-auth"
            w.write(
                f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
            )
        elif path == "/echo-auth":
            self.auth_seen.append(headers.get("authorization"))
            body = json.dumps({"authorization": headers.get("authorization")}).encode()
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        elif path.startswith("/retry-after/"):
            value = path.split("/", 2)[2]
            w.write(
                f"HTTP/1.1 503 Service Unavailable\r\nRetry-After: {value}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
        else:
            w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await w.drain()
