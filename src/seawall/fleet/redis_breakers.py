"""Circuit breakers shared by every process of a fleet through Redis.

`SharedBreakerStore` is a `CoordinatedBreakerStore`: breakers built with `store=` it trip,
half-open and close together across processes and machines, and admit `half_open_max_calls`
probes fleet-wide (not per process).

How the work is split (why a healthy breaker costs no round trip):

- Each breaker keeps deciding on its own local record, exactly as without a store: a CLOSED
  breaker's success path stays the same two reads.
- Outcomes that matter to the fleet (consecutive mode: failures, and the success that clears
  them; ratio mode: every counted call) are only added to local counters. A daemon thread sends
  them every `sync_interval_s` (sooner after a failure) in one pipelined round trip for all
  breakers; one Lua script per breaker adds them to the fleet's counts (a consecutive count, or a
  sliding window of buckets keyed by the Redis server clock), opens the breaker fleet-wide when
  the shared count crosses the threshold (`opened_at` is Redis server time), and returns the
  shared state, which the thread applies with `CircuitBreaker.adopt`. A breaker opened anywhere
  therefore stops every process within about one interval.
- Half-open: a process whose local view says the open period is over asks Redis for a probe slot
  (one script: at most `half_open_max_calls` slots fleet-wide, each with a TTL so a crashed
  prober frees its slot). This is the only round trip made on a caller's thread, once per probe
  attempt; a refusal is remembered for `sync_interval_s`. Probe outcomes close (after
  `half_open_max_calls` successes) or reopen the breaker fleet-wide.

The client is redis-py's synchronous one, on purpose: the breaker's protocol (`acquire`,
`on_success`, ...) is synchronous and is used from threads and event loops alike, so every round
trip except the probe request runs on the store's own thread, never on an event loop.

When Redis cannot be reached each process falls back to its local breaker state (it never fails
closed because Redis blinked): the store logs one warning per outage, counts it in `fallbacks`
(and calls `on_fallback`: pass `get_metrics().shared_store_fallback` to count it in the
`seawall_shared_store_fallbacks` metric), admits probes locally, keeps retrying every interval,
and rejoins the fleet's state at the first successful round trip.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seawall.resilience.breaker_store import (
    BreakerRecord,
    CircuitState,
    InMemoryBreakerStore,
    ProbeOutcome,
)

if TYPE_CHECKING:
    import redis

    from seawall.resilience.breaker import CircuitBreaker

__all__ = ["SharedBreakerStore"]

_log = logging.getLogger("seawall.fleet.breakers")

# Shared state of one breaker: a hash {state, gen, opened_at, failures, succ}, a sorted set of
# probe slots (score = expiry, server time) and, in ratio mode, a hash of window buckets.
_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h, probes, win = KEYS[1], KEYS[2], KEYS[3]
local cfg = cjson.decode(ARGV[1])
local state = redis.call('HGET', h, 'state') or 'CLOSED'
local gen = tonumber(redis.call('HGET', h, 'gen') or '0')
local opened = tonumber(redis.call('HGET', h, 'opened_at') or '0')
local failures = tonumber(redis.call('HGET', h, 'failures') or '0')
local succ = tonumber(redis.call('HGET', h, 'succ') or '0')
local function set(s)
  state = s
  gen = gen + 1
  failures = 0
  succ = 0
  if s == 'OPEN' then opened = now end
  redis.call('DEL', probes)
  if s ~= 'HALF_OPEN' then redis.call('DEL', win) end
end
local function save()
  redis.call('HSET', h, 'state', state, 'gen', gen, 'opened_at', string.format('%.6f', opened),
    'failures', failures, 'succ', succ)
  redis.call('EXPIRE', h, cfg.ttl)
end
local function answer(extra)
  return {extra, state, gen, string.format('%.6f', now - opened)}
end
"""

# ARGV[1]: {mode, threshold, min_calls, rate, bucket_s, buckets, max, ttl,
#           reset, failed, calls, request, probes_done: [[token, outcome], ...]}
_SYNC = (
    _COMMON
    + """
for _, done in ipairs(cfg.probes_done) do
  local removed = redis.call('ZREM', probes, done[1])
  if state == 'HALF_OPEN' and removed == 1 then
    if done[2] == 'failure' then
      set('OPEN')
    elseif done[2] == 'success' then
      succ = succ + 1
      if succ >= cfg.max then set('CLOSED') end
    end
  end
end
local req = cfg.request
if req == 'force_close' then set('CLOSED')
elseif req == 'open' and state ~= 'OPEN' then set('OPEN')
elseif req == 'close' and state == 'HALF_OPEN' then set('CLOSED') end
if state == 'CLOSED' then
  if cfg.mode == 'consecutive' then
    if cfg.reset then failures = 0 end
    failures = failures + cfg.failed
    if failures >= cfg.threshold then set('OPEN') end
  elseif cfg.calls > 0 then
    local period = math.floor(now / cfg.bucket_s)
    redis.call('HINCRBY', win, 'c' .. period, cfg.calls)
    if cfg.failed > 0 then redis.call('HINCRBY', win, 'f' .. period, cfg.failed) end
    local calls, fails = 0, 0
    local all = redis.call('HGETALL', win)
    for i = 1, #all, 2 do
      local p = tonumber(string.sub(all[i], 2))
      if p > period - cfg.buckets then
        if string.sub(all[i], 1, 1) == 'c' then
          calls = calls + tonumber(all[i + 1])
        else
          fails = fails + tonumber(all[i + 1])
        end
      else
        redis.call('HDEL', win, all[i])
      end
    end
    redis.call('EXPIRE', win, cfg.ttl)
    if calls >= cfg.min_calls and fails / calls >= cfg.rate then set('OPEN') end
  end
end
save()
return answer(failures)
"""
)

# ARGV[1]: {reset_timeout, max, token, probe_ttl, ttl}
_PROBE = (
    _COMMON
    + """
if state == 'OPEN' then
  if now - opened < cfg.reset_timeout then return answer(0) end
  set('HALF_OPEN')
  save()
end
if state == 'HALF_OPEN' then
  redis.call('ZREMRANGEBYSCORE', probes, '-inf', now)
  if redis.call('ZCARD', probes) >= cfg.max then return answer(0) end
  redis.call('ZADD', probes, now + cfg.probe_ttl, cfg.token)
  redis.call('EXPIRE', probes, cfg.ttl)
end
return answer(1)
"""
)


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


class SharedBreakerStore(InMemoryBreakerStore):
    """Breaker state shared through Redis (`redis>=5`, the `redis` extra).

    `SharedBreakerStore("redis://localhost:6379/0", namespace="payments")`, then
    `CircuitBreaker(..., store=store, name="psp")` in every process. Breakers with the same
    `namespace` and name share state. `sync_interval_s` bounds how stale a process's view is;
    `probe_ttl_s` frees the probe slot of a process that died mid-probe. Pass `client=` to reuse a
    `redis.Redis`; `background=False` leaves syncing to `sync_now()` (tests).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "seawall",
        sync_interval_s: float = 0.1,
        probe_ttl_s: float = 30.0,
        timeout_s: float = 0.25,
        key_ttl_s: int = 86400,
        client: redis.Redis | None = None,
        background: bool = True,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        if sync_interval_s <= 0:
            raise ValueError(f"sync_interval_s must be > 0 (got {sync_interval_s})")
        if client is None:
            try:
                import redis as redis_lib
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ImportError(
                    "SharedBreakerStore needs redis-py: pip install 'seawall[redis]'"
                ) from exc
            client = redis_lib.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            )
        self.client = client
        self.namespace = namespace
        self.sync_interval_s = sync_interval_s
        self.probe_ttl_s = probe_ttl_s
        self.key_ttl_s = key_ttl_s
        self.on_fallback = on_fallback
        self.available = True
        """False while Redis cannot be reached (breakers then decide locally)."""
        self.fallbacks = 0
        """How many times this store lost Redis and fell back to local state."""
        self._sync_script = client.register_script(_SYNC)
        self._probe_script = client.register_script(_PROBE)
        self._shared: dict[str, _Shared] = {}
        self._pending = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._background = background
        self._thread: threading.Thread | None = None

    # -- CoordinatedBreakerStore ----------------------------------------------------------------

    def attach(self, breaker: CircuitBreaker) -> None:
        """Share `breaker` (one breaker per name per store); starts the sync thread."""
        with self._pending:
            self._shared[breaker.name] = _Shared(breaker, last_state=breaker.record.state)
            start = self._background and self._thread is None
            if start:
                self._thread = threading.Thread(
                    target=self._run, name=f"seawall-fleet-{self.namespace}", daemon=True
                )
        if start and self._thread is not None:
            self._thread.start()

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
        self._wake.set()

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
            self._wake.set()

    def admit_probe(self, name: str) -> bool:
        """Ask Redis for one of the fleet's probe slots (local answer while Redis is down)."""
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
            reply = self._probe_script(keys=self._keys(name), args=[json.dumps(cfg)])
        except Exception as exc:
            self._lost(exc)
            return True
        granted = bool(int(reply[0]))
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
        self._wake.set()

    # -- syncing --------------------------------------------------------------------------------

    def sync_now(self) -> bool:
        """Send pending outcomes and apply the fleet's state, for every breaker: one pipelined
        round trip. Returns False (and falls back to local state) when Redis is unreachable."""
        with self._pending:
            batch = []
            for name, sh in self._shared.items():
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
            pipe = self.client.pipeline(transaction=False)
            for name, _sh, cfg, _taken, _gen in batch:
                self._sync_script(keys=self._keys(name), args=[json.dumps(cfg)], client=pipe)
            replies = pipe.execute()
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
            self._lost(exc)
            return False
        if not self.available:
            self.available = True
            _log.warning(
                "shared breaker store reachable again: breakers follow the fleet's state",
                extra={"namespace": self.namespace},
            )
        for (_name, sh, _cfg, _taken, gen), reply in zip(batch, replies, strict=True):
            self._apply(sh, reply, gen)
        return True

    def close(self) -> None:
        """Stop the sync thread (breakers keep working on local state) and close the client."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.sync_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.sync_now()
            except Exception:  # never let the thread die: the next round tries again
                _log.exception("shared breaker sync failed")
            # A failure wakes the thread at once; wait at least a little so a burst of
            # failures is sent as one round trip, not one per failure.
            self._stop.wait(self.sync_interval_s / 10)

    def _keys(self, name: str) -> list[str]:
        base = f"{self.namespace}:breaker:{{{name}}}"
        return [base, f"{base}:probes", f"{base}:window"]

    def _lost(self, exc: BaseException) -> None:
        if not self.available:
            return
        self.available = False
        self.fallbacks += 1
        _log.warning(
            "shared breaker store unreachable (%s): breakers use local state until it returns",
            exc,
            extra={"namespace": self.namespace},
        )
        if self.on_fallback is not None:
            try:
                self.on_fallback(self.namespace)
            except Exception:
                _log.exception("on_fallback hook failed")

    def _apply(self, sh: _Shared, reply: Any, generation: int) -> None:
        """Make the local breaker follow the fleet's state (unless it moved meanwhile)."""
        breaker = sh.breaker
        rec = breaker.record
        if rec.generation != generation:
            return  # a local transition happened during the round trip: the next sync sends it
        state = CircuitState(_text(reply[1]))
        shared_generation = int(reply[2])
        age = float(_text(reply[3]))
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


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
