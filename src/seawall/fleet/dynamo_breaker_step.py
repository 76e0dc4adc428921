"""One breaker's fleet-wide rules as a pure function: what the Redis Lua scripts and the
PostgreSQL function do on their server, done by the DynamoDB store's caller before its
conditional write.

A breaker's state is a JSON document: {state, gen, opened_at, failures, succ, updated_at,
probes: {token: expires_at}, win: {period: [calls, fails]}}; times are seconds since the epoch
on the clock of the process that wrote them.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from seawall.fleet.dynamo_link import Doc

__all__ = ["new_doc", "step"]


def new_doc() -> Doc:
    """The state of a breaker the fleet has not seen yet."""
    return {
        "state": "CLOSED",
        "gen": 0,
        "opened_at": 0.0,
        "failures": 0,
        "succ": 0,
        "updated_at": 0.0,
        "probes": {},
        "win": {},
    }


def _move(d: Doc, target: str, now: float) -> None:
    d["state"] = target
    d["gen"] += 1
    d["failures"] = 0
    d["succ"] = 0
    if target == "OPEN":
        d["opened_at"] = now
    d["probes"] = {}
    if target != "HALF_OPEN":
        d["win"] = {}


def _sync(d: Doc, cfg: dict[str, Any], now: float) -> int:
    for token, outcome in cfg["probes_done"]:
        removed = d["probes"].pop(token, None) is not None
        if d["state"] == "HALF_OPEN" and removed:
            if outcome == "failure":
                _move(d, "OPEN", now)
            elif outcome == "success":
                d["succ"] += 1
                if d["succ"] >= cfg["max"]:
                    _move(d, "CLOSED", now)
    req = cfg["request"]
    if req == "force_close":
        _move(d, "CLOSED", now)
    elif req == "open" and d["state"] != "OPEN":
        _move(d, "OPEN", now)
    elif req == "close" and d["state"] == "HALF_OPEN":
        _move(d, "CLOSED", now)
    if d["state"] == "CLOSED":
        if cfg["mode"] == "consecutive":
            if cfg["reset"]:
                d["failures"] = 0
            d["failures"] += cfg["failed"]
            if d["failures"] >= cfg["threshold"]:
                _move(d, "OPEN", now)
        elif cfg["calls"] > 0:
            period = math.floor(now / cfg["bucket_s"])
            win: dict[str, list[int]] = d["win"]
            bucket = win.setdefault(str(period), [0, 0])
            bucket[0] += cfg["calls"]
            bucket[1] += cfg["failed"]
            for key in [k for k in win if int(k) <= period - cfg["buckets"]]:
                del win[key]
            calls = sum(c for c, _f in win.values())
            fails = sum(f for _c, f in win.values())
            if calls >= cfg["min_calls"] and fails / calls >= cfg["rate"]:
                _move(d, "OPEN", now)
    return int(d["failures"])


def _probe(d: Doc, cfg: dict[str, Any], now: float) -> int:
    if d["state"] == "OPEN":
        if now - d["opened_at"] < cfg["reset_timeout"]:
            return 0
        _move(d, "HALF_OPEN", now)
    if d["state"] == "HALF_OPEN":
        d["probes"] = {t: exp for t, exp in d["probes"].items() if exp > now}
        if len(d["probes"]) >= cfg["max"]:
            return 0
        d["probes"][cfg["token"]] = now + cfg["probe_ttl"]
    return 1


def step(doc: Doc, op: str, cfg: dict[str, Any], clock_now: float) -> tuple[Doc, int, float]:
    """Apply `op` ("sync" or "probe", with the `SyncedBreakerStore` cfg) to a copy of `doc`.

    Returns the new document, the reply's extra value (failures, or 1 when a probe slot was
    taken) and `now`: the caller's clock, never earlier than the document's last write, so time
    on one breaker does not run backwards when writers' clocks disagree.
    """
    d = copy.deepcopy(doc)
    now = max(clock_now, float(d["updated_at"]))
    extra = _sync(d, cfg, now) if op == "sync" else _probe(d, cfg, now)
    return d, extra, now
