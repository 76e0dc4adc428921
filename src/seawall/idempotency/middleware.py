"""`IdempotencyMiddleware`: the IETF Idempotency-Key header for any ASGI app (Starlette, FastAPI).

For requests whose method is in `methods` (POST and PATCH by default):

- no `Idempotency-Key` header while `required`: 400 with a problem body;
- the key is held by a request still running: 409;
- the key was used with another request (fingerprint of method, path, query and body): 422;
- the key was used with this request and completed: the stored status, headers and body are
  replayed with `Idempotent-Replayed: true`, and the app is not called.

Key rules: after trimming spaces and one pair of double quotes, a key is 1 to 255 characters of
printable ASCII (0x20 to 0x7E, the draft's sf-string); anything else (tab, control characters,
Latin-1 or UTF-8 bytes) is refused with 400 `invalid_idempotency_key`.

Answers with a status of 500 or more are not stored (the key is released so the client can
retry); set `store_server_errors=True` to store them too. Responses larger than
`max_response_bytes`, and streamed responses past that size, are passed through whole but not
stored (a retry runs the handler again). A handler that raises gets a complete problem+json 500
(whatever an inner error handler had prepared) and its key released, unless part of a streamed
answer already went out, in which case the connection is closed. While the handler runs, its
lease is renewed every `lease_s / 3` seconds, so a slow handler is never run twice by a retry.
Error bodies are `application/problem+json` with `type`, `title`, `status`, `detail` and a
machine `reason`. `partition` maps the ASGI scope to a namespace (for example the caller's user
id), so two clients cannot collide on the same key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterable

from seawall.idempotency.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
)
from seawall.idempotency.store import MAX_KEY_LENGTH, Claim, IdempotencyStore
from seawall.observability.asgi import ASGIApp, Message, Receive, Scope, Send
from seawall.store import Store

__all__ = ["IdempotencyMiddleware"]


log = logging.getLogger("seawall.idempotency")

_NOT_STORED_HEADERS = frozenset({b"date", b"server", b"connection", b"transfer-encoding"})


def _problem(status: int, title: str, detail: str, reason: str) -> tuple[int, bytes]:
    body = {
        "type": f"https://seawall.dev/problems/{reason.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "reason": reason,
    }
    return status, json.dumps(body).encode()


def _header_key(raw: bytes) -> str | None:
    """The key in an Idempotency-Key header value, or None when it breaks the key rules."""
    key = raw.strip(b" ").strip(b'"') if raw.isascii() else b""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(0x20 <= c <= 0x7E for c in key):
        return None
    return key.decode("ascii")


class IdempotencyMiddleware:
    """Pure ASGI middleware that makes unsafe requests idempotent per the Idempotency-Key draft."""

    def __init__(
        self,
        app: ASGIApp,
        store: Store | IdempotencyStore,
        *,
        methods: Iterable[str] = ("POST", "PATCH"),
        required: bool = True,
        header: str = "Idempotency-Key",
        scope: str = "http",
        expires_after: float = 24 * 3600.0,
        lease_s: float = 60.0,
        max_body_bytes: int = 1 << 20,
        max_response_bytes: int = 1 << 20,
        store_server_errors: bool = False,
        partition: Callable[[Scope], str] | None = None,
    ) -> None:
        self.app = app
        self.records = store if isinstance(store, IdempotencyStore) else IdempotencyStore(store)
        self.methods = frozenset(m.upper() for m in methods)
        self.required = required
        self.header = header.lower().encode("latin-1")
        self.header_name = header
        self.scope = scope
        self.expires_after = expires_after
        self.lease_s = lease_s
        self.max_body_bytes = max_body_bytes
        self.max_response_bytes = max_response_bytes
        self.store_server_errors = store_server_errors
        self.partition = partition

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http" or scope["method"].upper() not in self.methods:
            await self.app(scope, receive, send)
            return
        raw_key = next((v for k, v in scope.get("headers", []) if k.lower() == self.header), None)
        if raw_key is None:
            if self.required:
                await self._answer(
                    send,
                    *_problem(
                        400,
                        "Idempotency-Key is missing",
                        f"this {scope['method']} request needs an {self.header_name} header; "
                        "send a unique value (for example a UUID) and reuse it on retries",
                        "missing_idempotency_key",
                    ),
                )
                return
            await self.app(scope, receive, send)
            return
        key = _header_key(raw_key)
        if key is None:
            await self._answer(
                send,
                *_problem(
                    400,
                    "Idempotency-Key is invalid",
                    f"the {self.header_name} header must hold 1 to {MAX_KEY_LENGTH} printable "
                    "ASCII characters (a UUID is a good key)",
                    "invalid_idempotency_key",
                ),
            )
            return
        body = await self._read_body(receive)
        if body is False:
            return  # the client left before sending its body: nothing to run or answer
        if body is None:
            await self._answer(
                send,
                *_problem(
                    413,
                    "Request body too large",
                    f"idempotent requests may carry at most {self.max_body_bytes} bytes",
                    "body_too_large",
                ),
            )
            return
        assert isinstance(body, bytes)
        await self._handle(scope, receive, send, key, body)

    async def _read_body(self, receive: Receive) -> bytes | bool | None:
        """The whole body; None when it is too large; False when the client went away."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _fingerprint(self, scope: Scope, body: bytes) -> str:
        digest = hashlib.sha256()
        digest.update(scope["method"].upper().encode())
        digest.update(b"\n")
        digest.update(scope.get("raw_path") or scope["path"].encode())
        digest.update(b"?")
        digest.update(scope.get("query_string", b""))
        digest.update(b"\n")
        digest.update(body)
        return digest.hexdigest()

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, key: str, body: bytes
    ) -> None:
        record_scope = self.scope
        if self.partition is not None:
            record_scope = f"{self.scope}:{self.partition(scope)}"
        try:
            claim = await self.records.claim(
                record_scope,
                key,
                self._fingerprint(scope, body),
                lease_s=self.lease_s,
                expires_after=self.expires_after,
            )
        except IdempotencyInProgressError:
            await self._answer(
                send,
                *_problem(
                    409,
                    "Request in progress",
                    "a request with this Idempotency-Key is still being processed; retry later",
                    "idempotency_key_in_flight",
                ),
                extra=[(b"retry-after", b"1")],
            )
            return
        except IdempotencyKeyMismatchError:
            await self._answer(
                send,
                *_problem(
                    422,
                    "Idempotency-Key reused",
                    "this Idempotency-Key was used with a different request (method, path or "
                    "body); use a new key for a new request",
                    "idempotency_key_reused",
                ),
            )
            return
        except IdempotencyKeyError as exc:
            await self._answer(
                send,
                *_problem(400, "Idempotency-Key is invalid", str(exc), "invalid_idempotency_key"),
            )
            return
        if claim.outcome == "completed":
            await self._replay(send, claim)
            return
        await self._run(scope, receive, send, claim, body)

    async def _replay(self, send: Send, claim: Claim) -> None:
        assert claim.record is not None
        stored = claim.record.result
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored["headers"]]
        headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": stored["status"], "headers": headers})
        await send({"type": "http.response.body", "body": base64.b64decode(stored["body"])})

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, claim: Claim, body: bytes
    ) -> None:
        """Run the app once for a fresh claim, capturing its answer, renewing the lease."""
        delivered = False

        async def replay_receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            # Later reads wait for the real disconnect (a StreamingResponse listens for it).
            return await receive()

        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        start: Message | None = None
        started = False
        final: Message | None = None

        async def capture_send(message: Message) -> None:
            nonlocal status, size, final, start, started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers.extend((bytes(k), bytes(v)) for k, v in message.get("headers", []))
                start = message  # sent with the first body message (see _fail)
                return
            if message["type"] == "http.response.body":
                chunk = bytes(message.get("body", b""))
                size += len(chunk)
                if size <= self.max_response_bytes:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    # Held back until the record is stored, so a client that retries the moment
                    # it has the answer gets the replay, never a 409.
                    final = message
                    return
            if start is not None and not started:
                started = True
                await send(start)
            await send(message)

        renewer = asyncio.create_task(self._renew(claim))
        try:
            await self.app(scope, replay_receive, capture_send)
        except Exception:
            renewer.cancel()
            await asyncio.shield(self.records.release(claim))
            if started:
                raise  # part of a streamed answer went out: the server closes the connection
            # Whatever the app's own error handling produced is still held back: answer with
            # one complete problem instead.
            log.exception("handler failed; idempotency key released", extra={"key": claim.key})
            await self._answer(
                send,
                *_problem(
                    500,
                    "Internal server error",
                    "the request failed before it was answered; its Idempotency-Key was "
                    "released, so retrying with the same key runs it again",
                    "handler_failed",
                ),
            )
            return
        except BaseException:
            renewer.cancel()
            await asyncio.shield(self.records.release(claim))
            raise
        renewer.cancel()
        try:
            await self._store(claim, status, headers, chunks, size, final is not None)
        finally:
            await self._deliver(send, start, started, final)

    @staticmethod
    async def _deliver(
        send: Send, start: Message | None, started: bool, final: Message | None
    ) -> None:
        """Send what the app answered and is still held back (its start and last body)."""
        if start is not None and not started:
            await send(start)
        if final is not None:
            await send(final)

    async def _renew(self, claim: Claim) -> None:
        """Keep the claim's lease alive while the handler runs (every lease_s / 3 seconds)."""
        interval = self.lease_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.records.renew(claim, self.lease_s):
                    log.warning("idempotency lease lost while running", extra={"key": claim.key})
                    return
            except Exception:
                log.warning("idempotency lease renewal failed; retrying", exc_info=True)

    async def _store(
        self,
        claim: Claim,
        status: int,
        headers: list[tuple[bytes, bytes]],
        chunks: list[bytes],
        size: int,
        complete: bool,
    ) -> None:
        storable = (
            complete
            and size <= self.max_response_bytes
            and (status < 500 or self.store_server_errors)
        )
        if not storable:
            await self.records.release(claim)
            return
        stored = {
            "status": status,
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in headers
                if k.lower() not in _NOT_STORED_HEADERS
            ],
            "body": base64.b64encode(b"".join(chunks)).decode(),
        }
        if not await self.records.complete(claim, json.dumps(stored, separators=(",", ":"))):
            log.warning(
                "idempotency lease lost before the response was stored", extra={"key": claim.key}
            )

    @staticmethod
    async def _answer(
        send: Send,
        status: int,
        body: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            *(extra or []),
        ]
        log.info("idempotent request refused", extra={"status": status, "problem": body.decode()})
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
