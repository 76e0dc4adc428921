"""The fake provider's faults: a request served under its route's `FaultPlan` (outages, faults
before and after the work, latency), drawn from a generator fixed by seed, route and key."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from seawall.testing.fake_ledger import Ledger
from seawall.testing.fake_plan import AFTER_FAULTS, BEFORE_FAULTS, FaultPlan, RouteFaults
from seawall.testing.fake_wire import JSON, answer, error_body

__all__ = ["FaultedServer", "Work"]

Work = Callable[[bytes, str | None, float], Awaitable[tuple[int, bytes, bool]]]
"""A route's work: (body, Idempotency-Key, processing delay) to (status, body, replayed)."""


class FaultedServer:
    """Serves requests under a fault plan; holds the plan, the ledger and the outage clock."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.ledger = Ledger()
        self.epoch = time.monotonic()
        self.stopping = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Sleep, but end at once when the provider stops."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), seconds)

    def _rng(self, route: str, key: str | None) -> tuple[random.Random, int]:
        """A generator for this request, fixed by seed, route, key and the key's request count
        (returned too: how many requests of this key came before).

        Requests with an Idempotency-Key draw the same faults in any interleaving.
        """
        discriminator = key or ""
        n = self.ledger.draws[(route, discriminator)]
        self.ledger.draws[(route, discriminator)] = n + 1
        return random.Random(f"{self.plan.seed}|{route}|{discriminator}|{n}"), n

    @staticmethod
    def _reset_connection(request: web.Request) -> web.Response:
        """Abort the connection with a TCP reset."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return web.Response(status=500)

    async def _truncated(
        self, request: web.Request, status: int, body: bytes
    ) -> web.StreamResponse:
        """Send the headers and half of the body, then close the connection."""
        resp = web.StreamResponse(status=status, headers={"Content-Type": JSON})
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(body[: max(1, len(body) // 2)])
        if request.transport is not None:
            request.transport.close()
        return resp

    def _status_fault(self, faults: RouteFaults, status: int) -> web.Response:
        """A fault answer with a plausible body (and Retry-After for 429/503)."""
        headers = {}
        if status in (429, 503):
            if faults.retry_after_http_date:
                from email.utils import formatdate

                headers["Retry-After"] = formatdate(time.time() + faults.retry_after_s, usegmt=True)
            else:
                headers["Retry-After"] = f"{faults.retry_after_s:g}"
        _, body = error_body(status, "provider_error", f"injected {status}")
        return web.Response(status=status, body=body, content_type=JSON, headers=headers)

    async def serve(
        self,
        request: web.Request,
        route: str,
        work: Work,
    ) -> web.StreamResponse:
        """Run `work` under the route's fault plan and count the outcome."""
        faults = self.plan.for_route(route)
        key = request.headers.get("Idempotency-Key")
        body = await request.read() if request.can_read_body else b""
        ledger = self.ledger
        if not faults.active:
            status, payload, replayed = await work(body, key, 0.0)
            ledger.count(route, "replayed" if replayed else str(status))
            return answer(status, payload, replayed)

        since = time.monotonic() - self.epoch
        for outage in faults.outages:
            if outage.covers(since):
                ledger.count(route, "outage")
                if outage.mode == "reset":
                    return self._reset_connection(request)
                if outage.mode == "hang":
                    await self.wait(faults.hang_s)
                    return self._status_fault(faults, 504)
                return self._status_fault(faults, 503 if outage.mode == "status_503" else 500)

        rng, seen = self._rng(route, key)
        limit = faults.faulty_requests_per_key
        clean = limit is not None and key is not None and seen >= limit
        before = None if clean else faults.draw(rng, BEFORE_FAULTS)
        after = None if clean else faults.draw(rng, AFTER_FAULTS)
        delay = faults.latency.sample(rng) if faults.latency.active else 0.0

        if before is not None:
            ledger.count(route, before)
            if before == "reset":
                return self._reset_connection(request)
            if before == "hang":
                await self.wait(faults.hang_s)
                return self._status_fault(faults, 504)
            return self._status_fault(faults, int(before.removeprefix("status_")))

        status, payload, replayed = await work(body, key, delay)
        if after is None or status >= 400:
            ledger.count(route, "replayed" if replayed else str(status))
            return answer(status, payload, replayed)
        ledger.count(route, after)
        if after == "truncate":
            return await self._truncated(request, status, payload)
        if after == "invalid_json":
            return web.Response(status=status, body=payload[:-1] + b",}", content_type=JSON)
        if after == "after_reset":
            return self._reset_connection(request)
        if after == "after_hang":
            await self.wait(faults.hang_s)
            return answer(status, payload, replayed)
        return self._status_fault(faults, 500)
