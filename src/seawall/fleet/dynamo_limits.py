"""Fleet-wide token buckets and retry budgets on DynamoDB: a read and a conditional write per
decision.

The rules are those of `postgres_limits.sql`, run by the caller between a consistent `GetItem`
and a conditional `UpdateItem` (`DynamoDocs`; one item per bucket, `pk` =
namespace#rate#key or namespace#budget#key). DynamoDB has no server clock: refills use the
caller's wall clock (`clock.time()`), never earlier than the bucket's last write, so a process
whose clock runs d seconds ahead refills the bucket by up to d x rate tokens early. Keep hosts
NTP-synced (on AWS skew is typically milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from seawall.clock import SYSTEM_CLOCK, Clock
from seawall.fleet.dynamo_link import Doc, DynamoDocs
from seawall.fleet.limits_store import LimitsStore

__all__ = ["DynamoLimits"]


class DynamoLimits(LimitsStore):
    """Rate-limit buckets and retry budgets shared through a DynamoDB table (the `aws` extra).

    `DynamoLimits("prod-myapp-fleet", namespace="payments")`: the table of `DynamoBreakerStore`.
    `timeout_s` bounds each call, `retry_s` paces new attempts while the endpoint is down,
    `key_ttl_s` lets an unused bucket's item expire.
    """

    def __init__(
        self,
        table: str = "seawall-fleet",
        *,
        namespace: str = "seawall",
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout_s: float = 1.0,
        retry_s: float = 1.0,
        key_ttl_s: int = 86400,
        client: Any = None,
        create_table: bool = False,
        on_fallback: Callable[[str], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(namespace=namespace, retry_s=retry_s, on_fallback=on_fallback, clock=clock)
        self.docs = DynamoDocs.open(
            table,
            key_ttl_s,
            client=client,
            region=region,
            endpoint_url=endpoint_url,
            timeout_s=timeout_s,
            create_table=create_table,
        )

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client."""
        return self.docs.client

    @client.setter
    def client(self, value: Any) -> None:
        self.docs.client = value

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def _take(
        self, key: str, rate: float, burst: float, want: int, may_wait_s: float
    ) -> tuple[int, float]:
        def compute(doc: Doc | None) -> tuple[Doc | None, tuple[int, float]]:
            wall = self.clock.time()
            tokens, at = (burst, wall) if doc is None else (doc["tokens"], doc["at"])
            now = max(wall, at)
            tokens = min(burst, tokens + max(0.0, now - at) * rate)
            granted, wait = 0, 0.0
            if tokens >= 1:
                granted = min(want, math.floor(tokens))
                tokens -= granted
            else:
                wait = (1 - tokens) / rate
                if may_wait_s < 0 or wait <= may_wait_s:
                    granted = 1
                    tokens -= 1
            return {"tokens": tokens, "at": now}, (granted, wait)

        pk = f"{self.namespace}#rate#{key}"
        return self.docs.change(pk, self.docs.read(pk), compute, self.clock.time)

    def _budget(
        self,
        key: str,
        ratio: float,
        floor_rate: float,
        max_tokens: float,
        deposits: int,
        want: int,
    ) -> tuple[int, float]:
        def compute(doc: Doc | None) -> tuple[Doc | None, tuple[int, float]]:
            wall = self.clock.time()
            if doc is None:
                tokens, floor, at = 0.0, floor_rate, wall
            else:
                tokens, floor, at = doc["tokens"], doc["floor"], doc["at"]
            now = max(wall, at)
            tokens = min(max_tokens, tokens + deposits * ratio)
            floor = min(max(1.0, floor_rate), floor + max(0.0, now - at) * floor_rate)
            granted = 0
            if want > 0:
                if floor >= 1:
                    floor -= 1
                    granted = 1
                elif tokens >= 1:
                    tokens -= 1
                    granted = 1
            return {"tokens": tokens, "floor": floor, "at": now}, (granted, floor + tokens)

        pk = f"{self.namespace}#budget#{key}"
        return self.docs.change(pk, self.docs.read(pk), compute, self.clock.time)
