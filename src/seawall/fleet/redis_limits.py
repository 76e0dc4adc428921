"""Fleet-wide token buckets and retry budgets on Redis: one atomic Lua script per decision."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.fleet.limits_store import LimitsStore
from seawall.fleet.redis_link import redis_client

if TYPE_CHECKING:
    import redis

__all__ = ["RedisLimits"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS[1]: the bucket {tokens, at}. ARGV: rate, burst, want, may_wait (< 0: any), ttl.
_TAKE = (
    _NOW
    + """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local want, may_wait = tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1] or burst)
local at = tonumber(v[2] or now)
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local granted, wait = 0, 0
if tokens >= 1 then
  granted = math.min(want, math.floor(tokens))
  tokens = tokens - granted
else
  wait = (1 - tokens) / rate
  if may_wait < 0 or wait <= may_wait then
    granted = 1
    tokens = tokens - 1
  end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', tokens),
  'at', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {granted, string.format('%.9f', wait)}
"""
)

# KEYS[1]: the budget {tokens, floor, at}. ARGV: ratio, floor_rate, max_tokens, deposits, want,
# ttl. As RetryBudget: deposits earn `ratio` each, the floor refills at `floor_rate` per second.
_BUDGET = (
    _NOW
    + """
local ratio, floor_rate, max_tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local deposits, want = tonumber(ARGV[4]), tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'floor', 'at')
local tokens = tonumber(v[1] or 0)
local floor = tonumber(v[2] or floor_rate)
local at = tonumber(v[3] or now)
tokens = math.min(max_tokens, tokens + deposits * ratio)
floor = math.min(math.max(1, floor_rate), floor + math.max(0, now - at) * floor_rate)
local granted = 0
if want > 0 then
  if floor >= 1 then
    floor = floor - 1
    granted = 1
  elseif tokens >= 1 then
    tokens = tokens - 1
    granted = 1
  end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', tokens),
  'floor', string.format('%.9f', floor), 'at', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], ARGV[6])
return {granted, string.format('%.9f', floor + tokens)}
"""
)


class RedisLimits(LimitsStore):
    """Rate-limit buckets and retry budgets shared through Redis (the `redis` extra).

    `RedisLimits("redis://localhost:6379/0", namespace="payments")`, then
    `SharedRateLimiter(limits, "psp", rate=100)` or `SharedRetryBudget(limits, "psp")` in every
    process. `retry_s` paces reconnection attempts while Redis is down.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "seawall",
        timeout_s: float = 0.25,
        retry_s: float = 1.0,
        key_ttl_s: int = 3600,
        client: redis.Redis | None = None,
        on_fallback: Callable[[str], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(namespace=namespace, retry_s=retry_s, on_fallback=on_fallback, clock=clock)
        self.client = client if client is not None else redis_client(url, timeout_s)
        self.key_ttl_s = key_ttl_s
        self._take_script = self.client.register_script(_TAKE)
        self._budget_script = self.client.register_script(_BUDGET)

    def close(self) -> None:
        """Close the Redis client."""
        self.client.close()

    def _take(
        self, key: str, rate: float, burst: float, want: int, may_wait_s: float
    ) -> tuple[int, float]:
        ttl = max(self.key_ttl_s, math.ceil(burst / rate) + 60)
        reply: Any = self._take_script(
            keys=[f"{self.namespace}:rate:{{{key}}}"],
            args=[rate, burst, want, may_wait_s, ttl],
            client=self.client,
        )
        return int(reply[0]), float(reply[1])

    def _budget(
        self,
        key: str,
        ratio: float,
        floor_rate: float,
        max_tokens: float,
        deposits: int,
        want: int,
    ) -> tuple[int, float]:
        reply: Any = self._budget_script(
            keys=[f"{self.namespace}:budget:{{{key}}}"],
            args=[ratio, floor_rate, max_tokens, deposits, want, self.key_ttl_s],
            client=self.client,
        )
        return int(reply[0]), float(reply[1])
