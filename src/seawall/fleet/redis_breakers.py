"""Circuit breakers shared by every process of a fleet through Redis (the `redis` extra).

`SharedBreakerStore` is a `SyncedBreakerStore` (see `seawall.fleet.breaker_sync` for the design:
local decisions, a sync thread, fleet-wide probes, fallback): breakers built with `store=` it
trip, half-open and close together across processes and machines. Here the server side is two
Lua scripts: one sync script per breaker, all of them pipelined in one round trip, adds the
counts (a consecutive count, or a sliding window of buckets keyed by the Redis server clock) and
opens the breaker fleet-wide; the probe script hands out at most `half_open_max_calls` probe
slots (a sorted set scored by expiry).

The client is redis-py's synchronous one, on purpose: the breaker's protocol (`acquire`,
`on_success`, ...) is synchronous and is used from threads and event loops alike, so every round
trip except the probe request runs on the store's own thread, never on an event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from seawall.fleet.breaker_sync import Reply, SyncedBreakerStore
from seawall.fleet.redis_link import redis_client
from seawall.resilience.breaker_store import CircuitState

if TYPE_CHECKING:
    import redis

__all__ = ["SharedBreakerStore"]

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


class SharedBreakerStore(SyncedBreakerStore):
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
        super().__init__(
            namespace=namespace,
            sync_interval_s=sync_interval_s,
            probe_ttl_s=probe_ttl_s,
            key_ttl_s=key_ttl_s,
            background=background,
            on_fallback=on_fallback,
        )
        self.client = client if client is not None else redis_client(url, timeout_s)
        self._sync_script = self.client.register_script(_SYNC)
        self._probe_script = self.client.register_script(_PROBE)

    def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> list[Reply]:
        pipe = self.client.pipeline(transaction=False)
        for name, cfg in batch:
            self._sync_script(keys=self._keys(name), args=[json.dumps(cfg)], client=pipe)
        return [_reply(r) for r in pipe.execute()]

    def _ask_probe(self, name: str, cfg: dict[str, Any]) -> Reply:
        return _reply(
            self._probe_script(keys=self._keys(name), args=[json.dumps(cfg)], client=self.client)
        )

    def _close_backend(self) -> None:
        self.client.close()

    def _keys(self, name: str) -> list[str]:
        base = f"{self.namespace}:breaker:{{{name}}}"
        return [base, f"{base}:probes", f"{base}:window"]


def _reply(raw: Any) -> Reply:
    return (int(raw[0]), CircuitState(_text(raw[1])), int(raw[2]), float(_text(raw[3])))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
