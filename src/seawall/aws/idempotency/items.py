"""The DynamoDB item of an idempotency record: attribute names, expressions and decoding."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from seawall.idempotency.store import IdempotencyRecord

__all__ = [
    "CLAIM_CONDITION",
    "COMPLETE",
    "COMPLETE_NAMES",
    "DONE",
    "MAX_ID_BYTES",
    "MAX_RESULT_BYTES",
    "NAMES",
    "OURS",
    "OURS_NAMES",
    "PROGRESS",
    "number",
    "record_of",
    "ttl_of",
]

MAX_ID_BYTES = 2048
"""DynamoDB's limit on a partition key value."""
MAX_RESULT_BYTES = 380_000
"""The largest stored result: DynamoDB's 400 KB item limit less room for the other attributes."""

PROGRESS = "in_progress"
DONE = "completed"
NAMES = {
    "#id": "id",
    "#st": "status",
    "#exp": "expires_at",
    "#lease": "lease_expires_at",
}
# Free: no item, an expired one, or one in progress past its lease (the SQL store's `_stale`).
CLAIM_CONDITION = (
    "attribute_not_exists(#id) OR #exp <= :now OR (#st = :progress AND #lease <= :now)"
)
OURS = "#tok = :tok AND #st = :progress"
COMPLETE = "SET #st = :done, #res = :res, #exp = :exp, #ttl = :ttl, #upd = :now REMOVE #lease"
COMPLETE_NAMES = {
    "#st": "status",
    "#tok": "token",
    "#res": "result",
    "#exp": "expires_at",
    "#ttl": "ttl",
    "#upd": "updated_at",
    "#lease": "lease_expires_at",
}
OURS_NAMES = {"#st": "status", "#tok": "token"}


def number(value: float) -> dict[str, str]:
    """A low-level DynamoDB number."""
    return {"N": repr(float(value))}


def ttl_of(expires_at: float) -> int:
    """Whole epoch seconds, rounded up, so the TTL sweeper never deletes a live record."""
    return math.ceil(expires_at)


def record_of(item: Mapping[str, Any]) -> IdempotencyRecord:
    """An IdempotencyRecord from a low-level DynamoDB item."""

    def num(name: str) -> float | None:
        value = item.get(name)
        return None if value is None else float(value["N"])

    result = item.get("result")
    scope, key = item["id"]["S"].split("#", 1)  # a scope holds no '#'
    created_at = num("created_at")
    return IdempotencyRecord.from_row(
        {
            "scope": scope,
            "key": key,
            "status": item["status"]["S"],
            "fingerprint": item["fingerprint"]["S"],
            "token": item["token"]["S"],
            "lease_expires_at": num("lease_expires_at"),
            "expires_at": num("expires_at"),
            "result": None if result is None else result["S"],
            "created_at": created_at,
            "updated_at": num("updated_at") or created_at,
        }
    )
