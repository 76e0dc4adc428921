"""The fake provider's fault plan: per-route fault rates, latency and outages, seeded."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

__all__ = [
    "AFTER_FAULTS",
    "BEFORE_FAULTS",
    "FaultPlan",
    "FaultPlanError",
    "Latency",
    "Outage",
    "PaymentOutcomes",
    "RouteFaults",
]

BEFORE_FAULTS = ("status_500", "status_502", "status_503", "status_429", "hang", "reset")
"""Faults that strike before the provider does anything: nothing is stored."""

AFTER_FAULTS = ("truncate", "invalid_json", "after_500", "after_reset", "after_hang")
"""Faults that strike after the work is done and stored (for payments: after the charge)."""


class FaultPlanError(ValueError):
    """A fault plan value is out of range or unknown; the message names the field."""


def _check_rate(owner: str, name: str, value: float) -> None:
    """Reject rates outside [0, 1]."""
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise FaultPlanError(f"{owner}.{name} must be a rate in [0, 1], got {value!r}")


@dataclass(frozen=True, slots=True)
class Latency:
    """Added processing delay: `base_ms` plus a random part (uniform or exponential)."""

    base_ms: float = 0.0
    jitter_ms: float = 0.0
    distribution: Literal["uniform", "exponential"] = "uniform"

    def __post_init__(self) -> None:
        if self.base_ms < 0 or self.jitter_ms < 0:
            raise FaultPlanError("Latency.base_ms and jitter_ms must be >= 0")
        if self.distribution not in ("uniform", "exponential"):
            raise FaultPlanError(
                f"Latency.distribution must be 'uniform' or 'exponential', "
                f"got {self.distribution!r}"
            )

    @property
    def active(self) -> bool:
        """True when this adds any delay."""
        return self.base_ms > 0 or self.jitter_ms > 0

    def sample(self, rng: random.Random) -> float:
        """A delay in seconds (the exponential form has mean `jitter_ms`)."""
        if self.jitter_ms <= 0:
            extra = 0.0
        elif self.distribution == "uniform":
            extra = rng.uniform(0.0, self.jitter_ms)
        else:
            extra = rng.expovariate(1.0 / self.jitter_ms)
        return (self.base_ms + extra) / 1000.0


@dataclass(frozen=True, slots=True)
class Outage:
    """A window, in seconds after the plan was installed, in which the route is down."""

    start_s: float
    end_s: float
    mode: Literal["status_503", "status_500", "reset", "hang"] = "status_503"

    def __post_init__(self) -> None:
        if self.start_s < 0 or self.end_s <= self.start_s:
            raise FaultPlanError(
                f"Outage needs 0 <= start_s < end_s, got {self.start_s}..{self.end_s}"
            )
        if self.mode not in ("status_503", "status_500", "reset", "hang"):
            raise FaultPlanError(f"Outage.mode {self.mode!r} is not one of 503/500/reset/hang")

    def covers(self, since_start: float) -> bool:
        """True when `since_start` seconds after installation falls in the window."""
        return self.start_s <= since_start < self.end_s


@dataclass(frozen=True, slots=True)
class RouteFaults:
    """Fault rates for one route. Each request draws at most one fault before and one after.

    Before-faults (nothing is stored): `status_500/502/503`, `status_429` (with Retry-After
    `retry_after_s`, sent as an HTTP date when `retry_after_http_date`), `hang` (no answer for
    `hang_s`), `reset` (TCP reset). After-faults (the work is stored first): `truncate` (body cut
    mid-way), `invalid_json`, `after_500`, `after_reset`, `after_hang`.
    """

    status_500: float = 0.0
    status_502: float = 0.0
    status_503: float = 0.0
    status_429: float = 0.0
    hang: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    invalid_json: float = 0.0
    after_500: float = 0.0
    after_reset: float = 0.0
    after_hang: float = 0.0
    retry_after_s: float = 1.0
    retry_after_http_date: bool = False
    faulty_requests_per_key: int | None = None
    """Only a key's first N requests draw faults (None: all): `after_500=1.0` with 1 fails
    every first attempt after the work was stored, and every retry with the same key succeeds."""
    hang_s: float = 30.0
    latency: Latency = field(default_factory=Latency)
    outages: tuple[Outage, ...] = ()

    def __post_init__(self) -> None:
        for name in BEFORE_FAULTS + AFTER_FAULTS:
            _check_rate("RouteFaults", name, getattr(self, name))
        if sum(getattr(self, name) for name in BEFORE_FAULTS) > 1.0 + 1e-9:
            raise FaultPlanError(f"RouteFaults: the rates of {BEFORE_FAULTS} add up to over 1")
        if sum(getattr(self, name) for name in AFTER_FAULTS) > 1.0 + 1e-9:
            raise FaultPlanError(f"RouteFaults: the rates of {AFTER_FAULTS} add up to over 1")
        if self.retry_after_s < 0 or self.hang_s < 0:
            raise FaultPlanError("RouteFaults.retry_after_s and hang_s must be >= 0")

    @property
    def active(self) -> bool:
        """True when this route has any fault, delay or outage configured."""
        return (
            self.latency.active
            or bool(self.outages)
            or any(getattr(self, name) > 0 for name in BEFORE_FAULTS + AFTER_FAULTS)
        )

    def draw(self, rng: random.Random, names: tuple[str, ...]) -> str | None:
        """Pick at most one fault among `names` by their rates."""
        roll = rng.random()
        total = 0.0
        for name in names:
            rate: float = getattr(self, name)
            total += rate
            if roll < total:
                return name
        return None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouteFaults:
        """Build from JSON-like data (as sent to `POST /__plan`)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FaultPlanError(f"RouteFaults: unknown fields {sorted(unknown)}")
        values = dict(data)
        try:
            if "latency" in values:
                values["latency"] = Latency(**values["latency"])
            if "outages" in values:
                values["outages"] = tuple(Outage(**o) for o in values["outages"])
            return cls(**values)
        except TypeError as exc:
            raise FaultPlanError(f"RouteFaults: {exc}") from None


@dataclass(frozen=True, slots=True)
class PaymentOutcomes:
    """How the fake gateway decides a payment's business outcome, deterministic per order.

    A payment fails when its amount is above `fail_over_amount` (if set); otherwise it fails with
    `fail_rate` and stays pending with `pending_rate`, drawn from the seed and the order id.
    """

    fail_rate: float = 0.0
    pending_rate: float = 0.0
    fail_over_amount: int | None = None

    def __post_init__(self) -> None:
        _check_rate("PaymentOutcomes", "fail_rate", self.fail_rate)
        _check_rate("PaymentOutcomes", "pending_rate", self.pending_rate)
        if self.fail_rate + self.pending_rate > 1.0 + 1e-9:
            raise FaultPlanError("PaymentOutcomes: fail_rate + pending_rate is over 1")

    def decide(self, seed: int, order_ref: str, amount: int) -> str:
        """`succeeded`, `failed` or `pending` for this order."""
        if self.fail_over_amount is not None and amount > self.fail_over_amount:
            return "failed"
        if self.fail_rate == 0 and self.pending_rate == 0:
            return "succeeded"
        roll = random.Random(f"{seed}|outcome|{order_ref}").random()
        if roll < self.fail_rate:
            return "failed"
        if roll < self.fail_rate + self.pending_rate:
            return "pending"
        return "succeeded"


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The whole plan: a seed, faults for every route (`default`) and per route name.

    Route names are `"GET /resources/{id}"`, `"POST /resources"`, `"POST /v1/payments"`,
    `"GET /v1/payments/{id}"` and `"POST /v1/refunds"`.
    """

    seed: int = 0
    default: RouteFaults = field(default_factory=RouteFaults)
    routes: Mapping[str, RouteFaults] = field(default_factory=dict)
    payments: PaymentOutcomes = field(default_factory=PaymentOutcomes)

    def for_route(self, route: str) -> RouteFaults:
        """The faults that apply to `route`."""
        return self.routes.get(route, self.default)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (accepted back by `from_dict`)."""
        return {
            "seed": self.seed,
            "default": asdict(self.default),
            "routes": {name: asdict(faults) for name, faults in self.routes.items()},
            "payments": asdict(self.payments),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build from JSON-like data; unknown keys raise FaultPlanError."""
        unknown = set(data) - {"seed", "default", "routes", "payments"}
        if unknown:
            raise FaultPlanError(f"FaultPlan: unknown fields {sorted(unknown)}")
        seed = data.get("seed", 0)
        if not isinstance(seed, int):
            raise FaultPlanError(f"FaultPlan.seed must be an integer, got {seed!r}")
        try:
            payments = PaymentOutcomes(**data.get("payments", {}))
        except TypeError as exc:
            raise FaultPlanError(f"PaymentOutcomes: {exc}") from None
        return cls(
            seed=seed,
            default=RouteFaults.from_dict(data.get("default", {})),
            routes={k: RouteFaults.from_dict(v) for k, v in data.get("routes", {}).items()},
            payments=payments,
        )

    @classmethod
    def flaky(cls, rate: float, *, seed: int = 0, **extra: Any) -> FaultPlan:
        """A plan spreading `rate` evenly over 500/503/reset before and 500/reset after the work.

        Handy for demos and load tests; `extra` sets further RouteFaults fields on every route.
        """
        share = rate / 5.0
        faults = RouteFaults(
            status_500=share,
            status_503=share,
            reset=share,
            after_500=share,
            after_reset=share,
            **extra,
        )
        return cls(seed=seed, default=faults)
