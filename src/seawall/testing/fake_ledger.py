"""The fake provider's in-memory state: resources, payments, refunds, idempotency, counters."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IdempotencyEntry", "Ledger", "fingerprint"]


def fingerprint(body: bytes) -> str:
    """A digest of a request body that ignores JSON key order and whitespace."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


@dataclass(slots=True)
class IdempotencyEntry:
    """A key's stored request fingerprint and, once done, its stored answer."""

    fingerprint: str
    in_flight: bool = True
    status: int = 0
    body: bytes = b""


@dataclass(slots=True)
class Ledger:
    """Everything the fake provider remembers; mutated only on the provider's event loop."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyEntry] = field(default_factory=dict)
    requests: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    charges_by_key: Counter[str] = field(default_factory=Counter)
    charges_by_order: Counter[str] = field(default_factory=Counter)
    draws: Counter[tuple[str, str]] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self, prefix: str) -> str:
        """A new object id like `pay_000042`."""
        return f"{prefix}_{next(self._ids):06d}"

    def count(self, route: str, outcome: str) -> None:
        """Record one request on `route` with `outcome` (ok, replayed, 503, reset...)."""
        self.requests[route][outcome] += 1

    def record_charge(self, key: str | None, order_id: str | None) -> None:
        """Record that money moved once, under its idempotency key and order id."""
        if key is not None:
            self.charges_by_key[key] += 1
        if order_id is not None:
            self.charges_by_order[order_id] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready data (what `GET /__counters` returns)."""
        # An order charged more than once is a duplicate charge, whatever keys were used.
        duplicates = sum(n - 1 for n in self.charges_by_order.values() if n > 1)
        return {
            "requests": {route: dict(outcomes) for route, outcomes in self.requests.items()},
            "total_requests": sum(sum(c.values()) for c in self.requests.values()),
            "charges": len(self.payments),
            "charges_by_key": dict(self.charges_by_key),
            "charges_by_order": dict(self.charges_by_order),
            "duplicate_charges": duplicates,
            "refunds": len(self.refunds),
            "resources": len(self.resources),
        }
