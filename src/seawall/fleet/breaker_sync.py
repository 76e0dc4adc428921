"""What every shared breaker store does, whatever its server: count, sync, probe, fall back.

Each breaker keeps deciding on its own local record, exactly as without a store: a CLOSED
breaker's success path stays the same two reads. Outcomes that matter to the fleet (consecutive
mode: failures, and the success that clears them; ratio mode: every counted call) are only added
to local counters. A `Syncer` thread sends them every `sync_interval_s` (sooner after a failure)
in one round trip for all breakers; the server adds them to the fleet's counts, opens the breaker
fleet-wide when the shared count crosses the threshold (`opened_at` in server time) and returns
the shared state, which the thread applies with `CircuitBreaker.adopt`.

Half-open: a process whose local view says the open period is over asks the server for a probe
slot (at most `half_open_max_calls` fleet-wide, each expiring after `probe_ttl_s` so a crashed
prober frees its slot). That is the only round trip made on a caller's thread, once per probe
attempt; a refusal is remembered for `sync_interval_s`.

When the server cannot be reached each process falls back to its local breaker state (never
failing closed): `Fallback` logs one warning per outage and counts it; probes are admitted
locally; the thread keeps trying every interval and the first successful round trip rejoins.

A server-specific store implements three methods: `_send` (one round trip for a batch),
`_ask_probe` and `_close_backend`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seawall.fleet.fallback import Fallback
from seawall.fleet.syncer import Syncer
from seawall.resilience.breaker_store import (
    BreakerRecord,
    CircuitState,
    InMemoryBreakerStore,
    ProbeOutcome,
)

if TYPE_CHECKING:
    from seawall.resilience.breaker import CircuitBreaker

__all__ = ["Reply", "SyncedBreakerStore"]

_log = logging.getLogger("seawall.fleet.breakers")

Reply = tuple[int, CircuitState, int, float]
"""A server's answer for one breaker: (granted or failures, state, generation, seconds since
it opened)."""


@dataclass
class _Shared:
    """What this process knows of one breaker's fleet-wide state, and what it has to send."""

    breaker: CircuitBreaker
    last_state: CircuitState = CircuitState.CLOSED
    generation: int = -1
    reset: bool = False
    failed: int = 0
    calls: int = 0
    request: str = ""
    probes_done: list[tuple[str, str]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    probe_denied_until: float = 0.0
    shared_failures: int | None = None


class SyncedBreakerStore(InMemoryBreakerStore):
    """A `CoordinatedBreakerStore` whose server round trips are left to a subclass."""

    def __init__(
        self,
        *,
        namespace: str,
        sync_interval_s: float,
        probe_ttl_s: float,
        key_ttl_s: int,
        background: bool,
        on_fallback: Callable[[str], None] | None,
    ) -> None:
        super().__init__()
        self.namespace = namespace
        self.sync_interval_s = sync_interval_s
        self.probe_ttl_s = probe_ttl_s
        self.key_ttl_s = key_ttl_s
        self.fallback = Fallback(_log, "breaker", namespace, on_fallback)
        self._syncer = Syncer(self.sync_now, sync_interval_s, f"seawall-fleet-{namespace}")
        self._shared: dict[str, _Shared] = {}
        self._pending = threading.Lock()
        self._background = background

    @property
    def available(self) -> bool:
        """False while the server cannot be reached (breakers then decide locally)."""
        return self.fallback.available

    @property
    def fallbacks(self) -> int:
        """How many times this store lost its server and fell back to local state."""
        return self.fallback.count

    def fleet_failures(self, name: str) -> int | None:
        """The fleet's consecutive-failure count of breaker `name` at the last sync (None
        before the first one, or for a breaker this store does not share)."""
        sh = self._shared.get(name)
        return None if sh is None else sh.shared_failures

    # -- what a server-specific store provides --------------------------------------------------

    def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> list[Reply]:
        """One round trip: apply each breaker's pending counts, return each shared state."""
        raise NotImplementedError

    def _ask_probe(self, name: str, cfg: dict[str, Any]) -> Reply:
        """One round trip: take a probe slot if the fleet has one free."""
        raise NotImplementedError

    def _close_backend(self) -> None:
        """Close the server connection."""
        raise NotImplementedError

    # -- CoordinatedBreakerStore ----------------------------------------------------------------

    def attach(self, breaker: CircuitBreaker) -> None:
        """Share `breaker` (one breaker per name per store); starts the sync thread."""
        with self._pending:
            self._shared[breaker.name] = _Shared(breaker, last_state=breaker.record.state)
        if self._background:
            self._syncer.start()

    def saved(self, name: str, record: BreakerRecord) -> None:
        """A local transition: ask the fleet to follow it at the next sync."""
        sh = self._shared.get(name)
        if sh is None:
            return
        before, now = sh.last_state, record.state
        with self._pending:
            sh.last_state = now
            if now is CircuitState.OPEN:
                sh.request = "open"
            elif now is CircuitState.CLOSED:
                sh.request = "close" if before is CircuitState.HALF_OPEN else "force_close"
                sh.reset = True
                sh.failed = sh.calls = 0
            if now is not CircuitState.HALF_OPEN:
                sh.tokens.clear()
        self._syncer.wake()

    def outcome(self, name: str, failed: bool) -> None:
        """Count one outcome for the next sync (never a round trip)."""
        sh = self._shared.get(name)
        if sh is None:
            return
        with self._pending:
            if failed:
                sh.failed += 1
                sh.calls += 1
            elif sh.breaker.counts_every_call:
                sh.calls += 1
            else:
                sh.reset = True
                sh.failed = 0
        if failed:
            self._syncer.wake()

    def admit_probe(self, name: str) -> bool:
        """Ask the server for one of the fleet's probe slots (local answer while it is down)."""
        sh = self._shared.get(name)
        if sh is None or not self.available:
            return True
        breaker = sh.breaker
        if breaker.clock.monotonic() < sh.probe_denied_until:
            return False
        token = uuid.uuid4().hex
        cfg = {
            "reset_timeout": breaker.reset_timeout_s,
            "max": breaker.half_open_max_calls,
            "token": token,
            "probe_ttl": self.probe_ttl_s,
            "ttl": self.key_ttl_s,
        }
        try:
            reply = self._ask_probe(name, cfg)
        except Exception as exc:
            self.fallback.lost(exc)
            return True
        granted = bool(reply[0])
        if granted:
            with self._pending:
                sh.tokens.append(token)
        else:
            sh.probe_denied_until = breaker.clock.monotonic() + self.sync_interval_s
            self._apply(sh, reply, breaker.record.generation)
        return granted

    def probe_finished(self, name: str, outcome: ProbeOutcome) -> None:
        """Hand a probe's verdict (and its slot) back to the fleet at the next sync."""
        sh = self._shared.get(name)
        if sh is None:
            return
        with self._pending:
            if not sh.tokens:
                return
            sh.probes_done.append((sh.tokens.pop(0), outcome))
        self._syncer.wake()

    # -- syncing --------------------------------------------------------------------------------

    def sync_now(self) -> bool:
        """Send pending outcomes and apply the fleet's state, for every breaker: one round trip.
        Returns False (and falls back to local state) when the server is unreachable."""
        with self._pending:
            batch = []
            for name, sh in sorted(self._shared.items()):
                b = sh.breaker
                cfg = {
                    "mode": b.mode,
                    "threshold": b.failure_threshold,
                    "min_calls": b.minimum_calls,
                    "rate": b.failure_rate_threshold,
                    "bucket_s": b.window_s / 10,
                    "buckets": 10,
                    "max": b.half_open_max_calls,
                    "ttl": self.key_ttl_s,
                    "reset": sh.reset,
                    "failed": sh.failed,
                    "calls": sh.calls,
                    "request": sh.request,
                    "probes_done": sh.probes_done,
                }
                taken = (sh.reset, sh.failed, sh.calls, sh.request, sh.probes_done)
                sh.reset, sh.failed, sh.calls, sh.request, sh.probes_done = False, 0, 0, "", []
                batch.append((name, sh, cfg, taken, b.record.generation))
        if not batch:
            return True
        try:
            replies = self._send([(name, cfg) for name, _sh, cfg, _taken, _gen in batch])
        except Exception as exc:
            with self._pending:  # keep what was not sent for the next attempt
                for _name, sh, _cfg, taken, _gen in batch:
                    reset, failed, calls, request, done = taken
                    if not sh.reset:  # no success came after: the counts add up
                        sh.reset = reset
                        sh.failed += failed
                    sh.calls += calls
                    sh.request = sh.request or request
                    sh.probes_done[:0] = done
            self.fallback.lost(exc)
            return False
        self.fallback.back()
        for (_name, sh, _cfg, _taken, gen), reply in zip(batch, replies, strict=True):
            self._apply(sh, reply, gen)
        return True

    def close(self) -> None:
        """Stop the sync thread (breakers keep working on local state) and disconnect."""
        self._syncer.stop()
        self._close_backend()

    def _apply(self, sh: _Shared, reply: Reply, generation: int) -> None:
        """Make the local breaker follow the fleet's state (unless it moved meanwhile)."""
        breaker = sh.breaker
        rec = breaker.record
        if rec.generation != generation:
            return  # a local transition happened during the round trip: the next sync sends it
        extra, state, shared_generation, age = reply
        sh.shared_failures = extra
        local = rec.state
        seen, sh.generation = sh.generation, shared_generation
        if state is CircuitState.OPEN:
            if (
                local is CircuitState.HALF_OPEN
                and age >= breaker.reset_timeout_s
                and seen == shared_generation
            ):
                return  # the same open period, seen as over here first
            opened_at = breaker.clock.monotonic() - age
        else:
            if local is state:
                return
            opened_at = rec.opened_at
        with self._pending:
            if rec.generation != generation:
                return
            sh.last_state = state
            if state is not CircuitState.HALF_OPEN:
                sh.tokens.clear()
        breaker.adopt(state, opened_at, "fleet state", if_generation=generation)
