"""Fleet-wide token buckets and retry budgets on PostgreSQL: one function call per decision.

The tables and functions are in `postgres_limits.sql` beside this module (created on first
connection); each decision locks the bucket's row `FOR UPDATE` and uses the server's clock.
"""

from __future__ import annotations

from collections.abc import Callable

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.fleet.limits_store import LimitsStore
from seawall.fleet.pg_link import PgLink

__all__ = ["PostgresLimits"]

_TAKE = "SELECT * FROM seawall_fleet_take(%s, %s, %s, %s, %s, %s)"
_BUDGET = "SELECT * FROM seawall_fleet_budget(%s, %s, %s, %s, %s, %s, %s)"


class PostgresLimits(LimitsStore):
    """Rate-limit buckets and retry budgets shared through PostgreSQL (the `postgres` extra).

    `PostgresLimits("postgresql://app@db/app", namespace="payments")`; `?schema=name` in the URL
    picks the tables' schema, `timeout_s` bounds each statement, `retry_s` paces reconnection
    attempts while the server is down.
    """

    def __init__(
        self,
        url: str = "postgresql://127.0.0.1:5432/postgres",
        *,
        namespace: str = "seawall",
        timeout_s: float = 1.0,
        retry_s: float = 1.0,
        on_fallback: Callable[[str], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(namespace=namespace, retry_s=retry_s, on_fallback=on_fallback, clock=clock)
        self.link = PgLink(url, ("postgres_limits.sql",), timeout_s)

    def close(self) -> None:
        """Close the connection."""
        self.link.drop()

    def _take(
        self, key: str, rate: float, burst: float, want: int, may_wait_s: float
    ) -> tuple[int, float]:
        ((granted, wait),) = self.link.rows(
            _TAKE, (self.namespace, key, rate, burst, want, may_wait_s)
        )
        return int(granted), float(wait)

    def _budget(
        self,
        key: str,
        ratio: float,
        floor_rate: float,
        max_tokens: float,
        deposits: int,
        want: int,
    ) -> tuple[int, float]:
        ((granted, available),) = self.link.rows(
            _BUDGET, (self.namespace, key, ratio, floor_rate, max_tokens, deposits, want)
        )
        return int(granted), float(available)
