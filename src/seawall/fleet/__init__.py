"""State shared by every process of a fleet: circuit breakers, rate limits and retry budgets.

Each lives on Redis (`seawall[redis]`) or PostgreSQL (`seawall[postgres]`) or DynamoDB
(`seawall[aws]`). Importing this package needs no client library until a store is built.
"""

from __future__ import annotations

from seawall.fleet.dynamo_breakers import DynamoBreakerStore
from seawall.fleet.dynamo_limits import DynamoLimits
from seawall.fleet.limits_store import LimitsStore
from seawall.fleet.postgres_breakers import PostgresBreakerStore
from seawall.fleet.postgres_limits import PostgresLimits
from seawall.fleet.redis_breakers import SharedBreakerStore
from seawall.fleet.redis_limits import RedisLimits
from seawall.fleet.shared_budget import SharedRetryBudget
from seawall.fleet.shared_ratelimit import SharedRateLimiter

__all__ = [
    "DynamoBreakerStore",
    "DynamoLimits",
    "LimitsStore",
    "PostgresBreakerStore",
    "PostgresLimits",
    "RedisLimits",
    "SharedBreakerStore",
    "SharedRateLimiter",
    "SharedRetryBudget",
]
