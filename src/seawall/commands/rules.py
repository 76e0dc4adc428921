"""The command service's rules that do not depend on where rows are kept.

The SQL `CommandService` and the DynamoDB one (`seawall.aws.commands`) both apply these, so a
rule lives in one place:

- version rules: `check_sync_version` (publish_sync against the data row),
  `check_partial_sync` (partial sync: the item must exist at exactly that version) and
  `sync_order` (the data-sync `check_version` step);
- "unchanged" (a command equal to what it is based on is not stored): `same_fields` and
  `same_json`;
- partial updates: `deep_merge` (the framework's `mergeDeep`) and `merge_partial`;
- TTL per table type: `ttl_at`;
- listing: `check_page` (the page size and order `list_items_by_pk` accepts);
- notifications: `CommandNotification`, `status_note`, `gap_alarm`.

A "row" here is a mapping with the SQL tables' column names (`tenant_code`, `is_deleted`,
unversioned `sk` plus `version`); `attributes` is JSON text or already decoded.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from seawall.commands.context import InvokeContext, get_user_context
from seawall.commands.errors import CommandError, CommandNotFoundError, VersionMismatchError
from seawall.commands.keys import VERSION_LATEST, add_sort_key_version, remove_sort_key_version
from seawall.commands.models import CommandInputModel, CommandPartialInputModel

__all__ = [
    "DAY",
    "KEPT_FROM_FIRST",
    "LATEST_RETRIES",
    "CommandNotification",
    "Notifier",
    "TtlDays",
    "as_input",
    "as_partial",
    "check_page",
    "check_partial_sync",
    "check_sync_version",
    "command_row",
    "data_row",
    "deep_merge",
    "gap_alarm",
    "merge_partial",
    "same_fields",
    "same_json",
    "status_note",
    "sync_order",
    "tenant_of",
    "ttl_at",
]

DAY = 86400
LATEST_RETRIES = 20
"""How often a publish based on the latest version (-1) retries a lost race."""
COMPARED = ("id", "code", "name", "tenant_code", "type", "seq")

TtlDays = Mapping[str, int] | Callable[[str, str | None], int | None]
"""Days to keep rows per table type (`command`, `data`, `history`), or a function of
(table type, tenant code) giving them (None: no TTL)."""


@dataclass(frozen=True, slots=True)
class CommandNotification:
    """The framework's INotification: `command-status` on each status change, `sfn-alarm` on a
    data-sync version gap. `sk` is versioned; `tenant_code` is pk after its first `#`."""

    action: str
    id: str
    table: str
    pk: str
    sk: str
    tenant_code: str
    content: dict[str, Any] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        """The framework's SNS message body (`JSON.stringify` of the INotification)."""
        return {
            "action": self.action,
            "pk": self.pk,
            "sk": self.sk,
            "table": self.table,
            "id": self.id,
            "tenantCode": self.tenant_code,
            "content": self.content,
        }


Notifier = Callable[[CommandNotification], Awaitable[None]]


# -- inputs ----------------------------------------------------------------------------------


def as_input(value: CommandInputModel | Mapping[str, Any]) -> CommandInputModel:
    """A full command input from a model or the framework's JSON body."""
    if isinstance(value, CommandInputModel):
        return value
    return CommandInputModel.model_validate(value)


def as_partial(value: CommandPartialInputModel | Mapping[str, Any]) -> CommandPartialInputModel:
    """A partial update input from a model or the framework's JSON body."""
    if isinstance(value, CommandPartialInputModel):
        return value
    return CommandPartialInputModel.model_validate(value)


# -- version rules ---------------------------------------------------------------------------


def check_sync_version(pk: str, sk: str, given: int, current: int) -> None:
    """publish_sync: `given` must be -1 or the data row's version `current` (0: none); 400."""
    if given not in (VERSION_LATEST, current):
        raise VersionMismatchError(pk, sk, given, current)


def check_partial_sync(pk: str, sk: str, given: int, current: int | None) -> None:
    """publish_partial_update_sync: the data row must exist (`current` not None) and be at
    exactly `given` (-1 is not accepted, as in the framework); 400 otherwise."""
    if current is None:
        raise CommandNotFoundError(pk, sk)
    if current != given:
        raise VersionMismatchError(pk, sk, given, current)


def sync_order(version: int, data_version: int) -> Literal["next", "ahead", "behind"]:
    """Where a command stands against the data row (`check_version`): `next` syncs now;
    `ahead` waits for the previous command when it is stored (else goes on: a gap in the
    commands, as the framework); `behind` (the data row passed it unsynced) is an alarm."""
    expected = data_version + 1
    if version == expected:
        return "next"
    return "ahead" if version > expected else "behind"


# -- unchanged commands ----------------------------------------------------------------------


def same_fields(base: Mapping[str, Any], item: CommandInputModel) -> bool:
    """True when `item`'s fields other than `attributes` equal the stored row's.

    A `ttl` of None in the input is not compared (the stored one came from the TTL policy).
    """
    if any(base.get(name) != getattr(item, name) for name in COMPARED):
        return False
    if item.ttl is not None and base.get("ttl") != item.ttl:
        return False
    return bool(base.get("is_deleted")) == item.is_deleted


def canonical(value: Any) -> str:
    """The JSON text two equal JSON values share (keys sorted, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def same_json(stored: Any, given: Any) -> bool:
    """True when two decoded JSON values are the same JSON (1, 1.0 and true differ)."""
    return bool(stored == given) and canonical(stored) == canonical(given)


# -- partial updates -------------------------------------------------------------------------


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `patch` merged in: nested objects merge key by key; anything else (arrays,
    null) replaces, as the framework's `mergeDeep`."""
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        elif isinstance(value, Mapping):
            merged[key] = deep_merge({}, value)
        else:
            merged[key] = value
    return merged


def merge_partial(base: Mapping[str, Any], partial: CommandPartialInputModel) -> CommandInputModel:
    """The framework's `mergeDeep({}, item, input, {version: item.version})` on a stored row;
    the item's ttl is dropped unless the input gives one (the TTL policy applies again)."""
    given = partial.given()
    fields: dict[str, Any] = {
        "pk": partial.pk,
        "sk": remove_sort_key_version(base["sk"]),
        "id": base["id"],
        "code": base["code"],
        "name": base["name"],
        "tenant_code": base["tenant_code"],
        "type": base["type"],
        "is_deleted": bool(base["is_deleted"]),
        "seq": base.get("seq"),
        "ttl": None,
        "version": int(base["version"]),
    }
    stored = base["attributes"]
    attributes = json.loads(stored) if isinstance(stored, str) else dict(stored)
    for name, value in given.items():
        if name == "attributes":
            attributes = deep_merge(attributes, value)
        else:
            fields[name] = value
    return CommandInputModel(**fields, attributes=attributes)


# -- rows ------------------------------------------------------------------------------------

KEPT_FROM_FIRST = ("created_at", "created_by", "created_ip")
"""Data-row fields that keep the item's first version's values when it moves forward."""


def command_row(
    item: CommandInputModel,
    *,
    version: int,
    status: str,
    ctx: InvokeContext,
    source: str,
    request_id: str | None,
    now: float,
    ttl: int | None,
    attributes: Any,
) -> dict[str, Any]:
    """A stored command (unversioned `sk` plus `version`) with its own audit: who published it,
    from where and when (`createdAt/By/Ip` = `updatedAt/By/Ip` of this request)."""
    user = get_user_context(ctx)
    return {
        "pk": item.pk,
        "sk": remove_sort_key_version(item.sk),
        "version": version,
        "id": item.id,
        "code": item.code,
        "name": item.name,
        "tenant_code": item.tenant_code,
        "type": item.type,
        "is_deleted": 1 if item.is_deleted else 0,
        "seq": item.seq,
        "ttl": ttl,
        "attributes": attributes,
        "status": status,
        "source": source,
        "request_id": request_id or ctx.request_id,
        "created_at": now,
        "created_by": user.user_id or "",
        "created_ip": ctx.source_ip,
        "updated_at": now,
        "updated_by": user.user_id or "",
        "updated_ip": ctx.source_ip,
    }


def data_row(command: Mapping[str, Any], existing: Mapping[str, Any] | None) -> dict[str, Any]:
    """The data row a synced command makes (the framework's transformCommandToData): the
    command's fields, `cpk`/`csk` naming it, and the first version's `created*`."""
    row = {k: v for k, v in command.items() if k != "status"}
    row["cpk"] = command["pk"]
    row["csk"] = add_sort_key_version(command["sk"], int(command["version"]))
    if existing is not None:
        for name in KEPT_FROM_FIRST:
            row[name] = existing[name]
    return row


# -- TTL ---------------------------------------------------------------------------------------


def ttl_at(
    spec: TtlDays | None, table_type: str, tenant_code: str | None, now: float
) -> int | None:
    """Epoch seconds at which a row of `table_type` written at `now` expires, or None."""
    if spec is None:
        return None
    days = spec(table_type, tenant_code) if callable(spec) else spec.get(table_type)
    if not days:
        return None
    if days < 0:
        raise CommandError(f"TTL days must be greater than 0 (got {days} for {table_type})")
    return int(now) + int(days) * DAY


# -- listing ---------------------------------------------------------------------------------


def check_page(limit: int, order: str) -> None:
    """`list_items_by_pk`: 1 to 1000 items a page, in `asc` or `desc` order."""
    if not 1 <= limit <= 1000:
        raise CommandError(f"limit must be between 1 and 1000 (got {limit})")
    if order not in ("asc", "desc"):
        raise CommandError(f"order must be 'asc' or 'desc' (got {order!r})")


# -- notifications -----------------------------------------------------------------------------


def tenant_of(pk: str) -> str:
    """The framework's notification tenant: the text after the FIRST `#` of pk."""
    return pk[pk.index("#") + 1 :] if "#" in pk else pk


def status_note(
    table: str, row: Mapping[str, Any], status: str, request_id: str | None
) -> CommandNotification:
    """The `command-status` notification of command `row` (the framework's updateStatus)."""
    pk = str(row["pk"])
    sk = add_sort_key_version(str(row["sk"]), int(row["version"]))
    return CommandNotification(
        action="command-status",
        id=request_id or f"{table}#{pk}#{sk}",
        table=table,
        pk=pk,
        sk=sk,
        tenant_code=tenant_of(pk),
        content={"status": status, "source": row.get("source")},
    )


def gap_alarm(note: CommandNotification, cause: str) -> CommandNotification:
    """The `sfn-alarm` for a version gap found while syncing the command of `note`."""
    return CommandNotification(
        action="sfn-alarm",
        id=f"{note.pk}#{note.sk}",
        table=note.table,
        pk=note.pk,
        sk=note.sk,
        tenant_code=note.tenant_code,
        content={"errorMessage": {"result": -1, "error": "version is not match", "cause": cause}},
    )
