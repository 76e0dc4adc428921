"""Command and data models with the framework's fields (camelCase aliases accepted on input).

- `CommandInputModel`: what a caller publishes (`version` is the version the change is based on:
  0 creates and is the default, -1 means "on top of the latest", N must be the current one).
- `CommandPartialInputModel`: a partial update; fields not given keep the item's values,
  `attributes` are deep-merged, and a field given as null overwrites (the framework's
  `mergeDeep`): `seq`, `ttl` and attribute values become null. Fields seawall stores as NOT NULL
  (`code`, `name`, `type`, `tenantCode`, `isDeleted`, `attributes`) refuse null instead of
  storing it as the framework would.
- `CommandModel`: a stored command (one per version) with status, source, request id and its
  own audit (`createdAt/By/Ip` of the request that published it); `sk` is the versioned sort
  key `sk@version`, as the framework stores and returns it.
- `DataModel`: the latest projection of an item (plain `sk`); `cpk`/`csk` name the command it
  came from; `createdAt/By/Ip` are the item's first version's.

Times are UTC datetimes (stored as epoch seconds; they serialise as ISO 8601 strings, the
framework's stored form). `attributes` must be JSON-able (stored as JSON text). `ttl` is epoch
seconds, as the framework's DynamoDB TTL: a row whose ttl has passed is no longer read and
`CommandService.purge_expired` deletes it.

Stored commands and data records are built from rows of seawall's own tables, whose attributes
were checked when they were published: `from_row` skips the JSON-ability check (a full encode)
on that path, which runs on every publish and read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from seawall.commands.keys import (
    VERSION_FIRST,
    VERSION_LATEST,
    add_sort_key_version,
    generate_id,
    get_tenant_code,
)
from seawall.store import Row

__all__ = [
    "CommandInputModel",
    "CommandModel",
    "CommandPartialInputModel",
    "DataModel",
    "from_epoch",
]

_FROM_ROW = {"seawall_stored_row": True}
_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


def from_epoch(value: float) -> datetime:
    """A UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(value, tz=UTC)


def _check_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"attributes must be JSON-able: {exc}") from exc
    return value


class _Keyed(BaseModel):
    model_config = _CONFIG

    pk: str = Field(min_length=1)
    sk: str = Field(min_length=1)

    @field_validator("pk", "sk")
    @classmethod
    def _no_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class CommandInputModel(_Keyed):
    """A full command: the item's new state, based on `version`."""

    id: str = ""
    code: str
    name: str
    version: int = Field(default=VERSION_FIRST, ge=VERSION_LATEST)
    tenant_code: str = ""
    type: str
    is_deleted: bool = False
    seq: int | None = None
    ttl: int | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _json_attributes(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if info.context is _FROM_ROW:  # decoded from stored JSON text: JSON-able already
            return value
        return _check_json(value)

    @model_validator(mode="after")
    def _defaults(self) -> CommandInputModel:
        if not self.id:
            object.__setattr__(self, "id", generate_id(self.pk, self.sk))
        if not self.tenant_code:
            object.__setattr__(self, "tenant_code", get_tenant_code(self.pk) or "")
        return self


class CommandPartialInputModel(_Keyed):
    """A partial update of the item at `version` (or the latest, with -1)."""

    version: int = Field(ge=VERSION_LATEST)
    code: str | None = None
    name: str | None = None
    tenant_code: str | None = None
    type: str | None = None
    is_deleted: bool | None = None
    seq: int | None = None
    ttl: int | None = None
    attributes: dict[str, Any] | None = None

    @field_validator("attributes")
    @classmethod
    def _json_attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _check_json(value)

    @model_validator(mode="after")
    def _no_null_for_required(self) -> CommandPartialInputModel:
        for name in _NOT_NULL:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null (seawall stores it NOT NULL)")
        return self

    def given(self) -> dict[str, Any]:
        """The fields the caller set (a null among them overwrites), key and version excluded."""
        return {
            name: getattr(self, name)
            for name in self.model_fields_set
            if name not in ("pk", "sk", "version")
        }


_NOT_NULL = ("code", "name", "tenant_code", "type", "is_deleted", "attributes")


class CommandModel(CommandInputModel):
    """A stored command: one immutable row per (pk, sk, version)."""

    version: int = Field(ge=1)
    status: str
    source: str
    request_id: str
    created_at: datetime
    created_by: str
    created_ip: str
    updated_at: datetime
    updated_by: str
    updated_ip: str

    @classmethod
    def from_row(cls, row: Row) -> CommandModel:
        """Build a command from a command-table row (`sk` gets its `@version`)."""
        data = _decode(row)
        data["sk"] = add_sort_key_version(data["sk"], int(data["version"]))
        return cls.model_validate(data, context=_FROM_ROW)


class DataModel(CommandInputModel):
    """The latest projection of one item; `cpk`/`csk` point at the command it was built from."""

    version: int = Field(ge=1)
    cpk: str
    csk: str
    source: str
    request_id: str
    created_at: datetime
    created_by: str
    created_ip: str
    updated_at: datetime
    updated_by: str
    updated_ip: str

    @classmethod
    def from_row(cls, row: Row) -> DataModel:
        """Build a data record from a `seawall_command_data` or history row."""
        return cls.model_validate(_decode(row), context=_FROM_ROW)


def _decode(row: Row) -> dict[str, Any]:
    data = dict(row)
    attributes = data["attributes"]
    data["attributes"] = json.loads(attributes) if isinstance(attributes, str) else attributes
    data["is_deleted"] = bool(data["is_deleted"])
    data["created_at"] = from_epoch(data["created_at"])
    data["updated_at"] = from_epoch(data["updated_at"])
    return data
