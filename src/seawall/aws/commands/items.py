"""The framework's DynamoDB item shape of commands, data and history, and rows to and from it.

A row has the SQL tables' column names (`tenant_code`, unversioned `sk` plus `version`); an item
has camelCase attributes, `createdAt`/`updatedAt` as ISO 8601 strings with a UTC offset and, for
commands and history, the versioned sort key `sk@version`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic.alias_generators import to_camel

from seawall.aws.transact import from_item, to_item
from seawall.commands.keys import (
    add_sort_key_version,
    get_sort_key_version,
    remove_sort_key_version,
)
from seawall.commands.tables import COMMAND_COLUMNS, DATA_COLUMNS

__all__ = ["Row", "item_of", "normalized", "row_of"]

Row = dict[str, Any]

_DATES = ("created_at", "updated_at")
_TEXT_DEFAULTS = {
    "id": "",
    "tenant_code": "",
    "source": "",
    "request_id": "",
    "created_by": "",
    "created_ip": "",
    "updated_by": "",
    "updated_ip": "",
    "cpk": "",
    "csk": "",
}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat(timespec="seconds")


def _epoch(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


_CAMEL = {name: to_camel(name) for name in {*COMMAND_COLUMNS, *DATA_COLUMNS}}
_SNAKE = {camel: name for name, camel in _CAMEL.items()}


def item_of(row: Mapping[str, Any], columns: Iterable[str], *, versioned: bool) -> Row:
    """A row as the framework's DynamoDB item (None values left out)."""
    item: Row = {}
    for name in columns:
        value = row.get(name)
        if value is None:
            continue
        if name in _DATES:
            value = _iso(value)
        elif name == "is_deleted":
            value = bool(value)
        item[_CAMEL[name]] = value
    if versioned:
        item["sk"] = add_sort_key_version(str(row["sk"]), int(row["version"]))
    return item


def row_of(item: Mapping[str, Any], columns: tuple[str, ...]) -> Row:
    """A DynamoDB item (Python values) as a row; unknown attributes are ignored."""
    row: Row = dict.fromkeys(columns)
    row.update({k: v for k, v in _TEXT_DEFAULTS.items() if k in row})
    row["attributes"] = {}
    row["is_deleted"] = False
    for key, value in item.items():
        name = _SNAKE.get(key)
        if name is not None and name in row and value is not None:
            row[name] = value
    row["sk"] = remove_sort_key_version(str(row["sk"]))
    for name in _DATES:
        row[name] = _epoch(row[name]) if row[name] is not None else 0.0
    row["version"] = int(row["version"] or get_sort_key_version(str(item.get("sk", ""))))
    row["is_deleted"] = bool(row["is_deleted"])
    return row


def normalized(attributes: Mapping[str, Any]) -> Any:
    """Attributes as they read back from DynamoDB (numbers through Decimal)."""
    return from_item(to_item({"a": dict(attributes)}))["a"]
