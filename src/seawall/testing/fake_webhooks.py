"""A webhook sender that behaves like a real provider: signs, redelivers, duplicates, reorders.

`WebhookSender` signs each event with the guide's `hmac-timestamp` scheme (`x-timestamp` and
`x-signature` = hex HMAC-SHA256 of `f"{timestamp}.{raw body}"`) and POSTs it to one URL. Like real
providers it redelivers on any non-2xx answer or connection failure with exponential backoff, and a
seeded `WebhookPlan` makes it send some events twice, hold some back (which reorders them), treat
some acknowledgements as lost (so the event is redelivered although it was stored), and, for the
demo, send extra forged copies (bad signature or a body changed after signing) and stale replays
(correctly signed, but with a timestamp far in the past). Forged and stale copies are one-shot:
an attacker does not redeliver, and the receiver must refuse them.

The sender runs its own event loop in a background thread, so it can be plugged into
`FakeProvider` as an event sink (`provider.add_event_sink(sender)`) or fed by anything else via
`submit(event_dict)`. `stats()` says what was sent and what was acknowledged, from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import aiohttp

if TYPE_CHECKING:
    from seawall.testing.fake_events import ProviderEvent

__all__ = [
    "DeliveryKind",
    "DeliveryRecord",
    "WebhookPlan",
    "WebhookPlanError",
    "WebhookSender",
    "WebhookStats",
    "sign_hmac_timestamp",
]

DeliveryKind = Literal["genuine", "duplicate", "forged", "stale"]


class WebhookPlanError(ValueError):
    """A webhook plan value is out of range; the message names the field."""


def sign_hmac_timestamp(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The guide's headers: `x-timestamp` and hex HMAC-SHA256 of `"{timestamp}.{body}"`."""
    if not secret:
        raise ValueError("cannot sign with an empty secret")
    ts = str(int(timestamp))
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"x-timestamp": ts, "x-signature": digest}


@dataclass(frozen=True, slots=True)
class WebhookPlan:
    """How the sender misbehaves, deterministic from `seed` and each event's id.

    Rates are per event: `duplicate_rate` sends a second independent delivery, `delay_rate` holds
    the delivery back up to `max_delay_s` (reordering it behind later events), `ack_loss_rate`
    ignores the first 2xx answer (a timeout on the provider's side) so the event is redelivered,
    `forged_rate` and `stale_rate` add a forged copy and a stale replay. Redelivery waits
    `retry_base_s * 2**(n-1)` (capped at `retry_cap_s`, full jitter) for up to `max_attempts`.
    """

    seed: int = 0
    duplicate_rate: float = 0.0
    delay_rate: float = 0.0
    max_delay_s: float = 0.5
    ack_loss_rate: float = 0.0
    forged_rate: float = 0.0
    stale_rate: float = 0.0
    stale_age_s: float = 3600.0
    retry_base_s: float = 0.05
    retry_cap_s: float = 2.0
    max_attempts: int = 10
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("duplicate_rate", "delay_rate", "ack_loss_rate", "forged_rate", "stale_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise WebhookPlanError(f"WebhookPlan.{name} must be in [0, 1], got {value!r}")
        for name in ("max_delay_s", "stale_age_s", "retry_base_s", "retry_cap_s"):
            if getattr(self, name) < 0:
                raise WebhookPlanError(f"WebhookPlan.{name} must be >= 0")
        if self.max_attempts < 1:
            raise WebhookPlanError("WebhookPlan.max_attempts must be at least 1")
        if self.timeout_s <= 0:
            raise WebhookPlanError("WebhookPlan.timeout_s must be > 0")

    @classmethod
    def hostile(cls, seed: int = 0, **overrides: Any) -> WebhookPlan:
        """The demo's plan: 10% duplicates, 15% delayed, 5% lost acks, 5% forged, 5% stale."""
        values: dict[str, Any] = {
            "seed": seed,
            "duplicate_rate": 0.10,
            "delay_rate": 0.15,
            "max_delay_s": 0.4,
            "ack_loss_rate": 0.05,
            "forged_rate": 0.05,
            "stale_rate": 0.05,
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One HTTP request the sender made: which event, which kind, which attempt, what came back."""

    event_id: str
    event_type: str
    kind: DeliveryKind
    attempt: int
    status: int | None
    error: str | None
    duplicate_answer: bool
    at: float


@dataclass(frozen=True, slots=True)
class WebhookStats:
    """What the sender did: events, requests by kind and answer, acknowledgements, give-ups."""

    events: int
    requests: int
    requests_by_kind: dict[str, int]
    answers: dict[str, int]
    redeliveries: int
    duplicates_sent: int
    delayed: int
    acks_lost: int
    forged_sent: int
    forged_rejected: int
    forged_accepted: int
    stale_sent: int
    stale_rejected: int
    stale_accepted: int
    acknowledged: int
    duplicate_answers: int
    gave_up: list[str]
    pending: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(slots=True)
class _State:
    """Mutable tallies, guarded by the sender's lock."""

    events: set[str] = field(default_factory=set)
    log: list[DeliveryRecord] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    gave_up: set[str] = field(default_factory=set)
    counters: Counter[str] = field(default_factory=Counter)
    pending: int = 0


class WebhookSender:
    """Signs provider events and delivers them to `url` with a real provider's bad habits.

    Use as a context manager (`with WebhookSender(url, secret) as sender:`) or call `start()` and
    `stop()`. It implements the fake provider's `EventSink` protocol.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        plan: WebhookPlan | None = None,
        *,
        forged_secret: str = "not-the-real-secret",
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"WebhookSender needs an http(s) URL, got {url!r}")
        if not secret:
            raise ValueError("WebhookSender needs a non-empty signing secret")
        if forged_secret == secret:
            raise ValueError("forged_secret must differ from the real secret")
        self.url = url
        self.plan = plan if plan is not None else WebhookPlan()
        self._secret = secret
        self._forged_secret = forged_secret
        self._lock = threading.Lock()
        self._state = _State()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def __repr__(self) -> str:
        return f"WebhookSender({self.url!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the background loop; returns once it can accept events."""
        if self._thread is not None:
            return self
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._closing = False
        self._thread = threading.Thread(target=run, name="webhook-sender", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        """Cancel deliveries still waiting, close connections and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._closing = True

        async def shutdown() -> None:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._session is not None:
                await self._session.close()
                self._session = None

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- intake ----------------------------------------------------------------------------

    async def deliver(self, event: ProviderEvent) -> None:
        """EventSink hook: queue `event` for delivery (returns at once)."""
        self.submit(event.to_dict())

    def submit(self, event: Mapping[str, Any]) -> None:
        """Queue one event (a dict with at least `id` and `type`) for delivery; thread-safe."""
        loop = self._loop
        if loop is None or self._closing:
            raise RuntimeError("WebhookSender is not running; call start() or use `with`")
        event_id, event_type = event.get("id"), event.get("type")
        if not isinstance(event_id, str) or not isinstance(event_type, str):
            raise ValueError("a webhook event needs string `id` and `type` fields")
        payload = dict(event)
        with self._lock:
            self._state.events.add(event_id)
            self._state.pending += 1
        loop.call_soon_threadsafe(self._spawn, payload)

    def _spawn(self, event: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._dispatch(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- reporting -------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events whose deliveries (including extra copies) have not all finished."""
        with self._lock:
            return self._state.pending

    def log(self) -> list[DeliveryRecord]:
        """Every request made so far, in order."""
        with self._lock:
            return list(self._state.log)

    def acknowledged(self) -> set[str]:
        """Ids of events the receiver answered 2xx to (on a genuine or duplicate delivery)."""
        with self._lock:
            return set(self._state.acknowledged)

    async def wait_settled(self, timeout: float, *, poll_s: float = 0.02) -> bool:
        """Wait (on any event loop) until no delivery is pending; False if `timeout` passed."""
        end = time.monotonic() + timeout
        while self.pending:
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(poll_s)
        return True

    def stats(self) -> WebhookStats:
        """A consistent snapshot of what was sent and acknowledged."""
        with self._lock:
            st = self._state
            c = st.counters
            by_kind: Counter[str] = Counter(r.kind for r in st.log)
            answers = Counter(str(r.status) if r.status is not None else "error" for r in st.log)
            return WebhookStats(
                events=len(st.events),
                requests=len(st.log),
                requests_by_kind=dict(by_kind),
                answers=dict(answers),
                redeliveries=sum(1 for r in st.log if r.attempt > 1),
                duplicates_sent=c["duplicate"],
                delayed=c["delayed"],
                acks_lost=c["ack_lost"],
                forged_sent=by_kind["forged"],
                forged_rejected=c["forged_rejected"],
                forged_accepted=c["forged_accepted"],
                stale_sent=by_kind["stale"],
                stale_rejected=c["stale_rejected"],
                stale_accepted=c["stale_accepted"],
                acknowledged=len(st.acknowledged),
                duplicate_answers=sum(1 for r in st.log if r.duplicate_answer),
                gave_up=sorted(st.gave_up),
                pending=st.pending,
            )

    # -- delivery --------------------------------------------------------------------------

    def _rng(self, event_id: str) -> random.Random:
        return random.Random(f"{self.plan.seed}|webhook|{event_id}")

    async def _dispatch(self, event: dict[str, Any]) -> None:
        """Send one event's genuine delivery and whatever extra copies the plan draws."""
        plan = self.plan
        event_id = str(event["id"])
        rng = self._rng(event_id)
        body = json.dumps(event, separators=(",", ":")).encode()
        delay = rng.uniform(0.0, plan.max_delay_s) if rng.random() < plan.delay_rate else 0.0
        duplicate = rng.random() < plan.duplicate_rate
        lose_ack = rng.random() < plan.ack_loss_rate
        forged = rng.random() < plan.forged_rate
        stale = rng.random() < plan.stale_rate
        dup_delay = rng.uniform(0.0, max(plan.max_delay_s, 0.05))
        with self._lock:
            self._state.counters["delayed"] += delay > 0
            self._state.counters["duplicate"] += duplicate
        jobs = [self._genuine(event, body, "genuine", delay, lose_ack, rng.random())]
        if duplicate:
            jobs.append(self._genuine(event, body, "duplicate", dup_delay, False, rng.random()))
        if forged:
            jobs.append(self._forged(event, body, rng))
        if stale:
            jobs.append(self._stale(event, body))
        try:
            await asyncio.gather(*jobs)
        finally:
            with self._lock:
                self._state.pending -= 1

    def _session_get(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.plan.timeout_s),
                connector=aiohttp.TCPConnector(limit=64),
            )
        return self._session

    async def _post(
        self,
        event: Mapping[str, Any],
        body: bytes,
        headers: dict[str, str],
        kind: DeliveryKind,
        attempt: int,
    ) -> tuple[int | None, bool]:
        """One request; records it and returns (status or None on error, duplicate answer)."""
        status: int | None = None
        error: str | None = None
        duplicate_answer = False
        try:
            async with self._session_get().post(
                self.url, data=body, headers={**headers, "Content-Type": "application/json"}
            ) as resp:
                status = resp.status
                text = await resp.read()
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                answer = json.loads(text)
                duplicate_answer = isinstance(answer, dict) and bool(answer.get("duplicate"))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = type(exc).__name__
        record = DeliveryRecord(
            event_id=str(event["id"]),
            event_type=str(event["type"]),
            kind=kind,
            attempt=attempt,
            status=status,
            error=error,
            duplicate_answer=duplicate_answer,
            at=time.time(),
        )
        with self._lock:
            self._state.log.append(record)
        return status, duplicate_answer

    async def _genuine(
        self,
        event: Mapping[str, Any],
        body: bytes,
        kind: DeliveryKind,
        delay: float,
        lose_ack: bool,
        jitter_seed: float,
    ) -> None:
        """Deliver until a 2xx (re-signed at each attempt), with backoff; give up after max."""
        plan = self.plan
        rng = random.Random(jitter_seed)
        event_id = str(event["id"])
        if delay > 0:
            await asyncio.sleep(delay)
        for attempt in range(1, plan.max_attempts + 1):
            headers = sign_hmac_timestamp(body, self._secret, int(time.time()))
            status, _ = await self._post(event, body, headers, kind, attempt)
            if status is not None and 200 <= status < 300:
                if lose_ack:
                    lose_ack = False
                    with self._lock:
                        self._state.counters["ack_lost"] += 1
                else:
                    with self._lock:
                        self._state.acknowledged.add(event_id)
                    return
            if attempt < plan.max_attempts:
                ceiling = min(plan.retry_cap_s, plan.retry_base_s * 2 ** (attempt - 1))
                await asyncio.sleep(rng.uniform(0.0, ceiling))
        with self._lock:
            if event_id not in self._state.acknowledged:
                self._state.gave_up.add(event_id)

    async def _forged(self, event: Mapping[str, Any], body: bytes, rng: random.Random) -> None:
        """An attacker's copy: flipped to a completed payment, with an invalid signature."""
        tampered = dict(event)
        data = dict(tampered.get("data") or {})
        data["status"] = "succeeded"
        data["amount"] = 1
        tampered["type"] = "payment.completed"
        tampered["data"] = data
        forged_body = json.dumps(tampered, separators=(",", ":")).encode()
        now = int(time.time())
        if rng.random() < 0.5:
            headers = sign_hmac_timestamp(forged_body, self._forged_secret, now)
        else:
            # A genuine signature of the original body, replayed over a changed body.
            headers = sign_hmac_timestamp(body, self._secret, now)
        status, _ = await self._post(tampered, forged_body, headers, "forged", 1)
        self._tally("forged", status)

    async def _stale(self, event: Mapping[str, Any], body: bytes) -> None:
        """A captured request replayed much later: correct signature, timestamp long past."""
        headers = sign_hmac_timestamp(body, self._secret, int(time.time() - self.plan.stale_age_s))
        status, _ = await self._post(event, body, headers, "stale", 1)
        self._tally("stale", status)

    def _tally(self, kind: str, status: int | None) -> None:
        with self._lock:
            if status is not None and 200 <= status < 300:
                self._state.counters[f"{kind}_accepted"] += 1
            elif status is not None and 400 <= status < 500:
                self._state.counters[f"{kind}_rejected"] += 1
