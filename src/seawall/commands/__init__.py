"""CQRS commands with the MBC CQRS Serverless framework's semantics, and the caller's context."""

from __future__ import annotations

from seawall.commands.context import (
    HEADER_TENANT_CODE,
    InvokeContext,
    UserContext,
    decode_jwt_claims,
    get_user_context,
)
from seawall.commands.errors import (
    CommandError,
    CommandNotFoundError,
    InvalidTokenError,
    VersionConflictError,
)
from seawall.commands.keys import (
    VERSION_FIRST,
    VERSION_LATEST,
    add_sort_key_version,
    generate_id,
    get_sort_key_version,
    get_tenant_code,
    remove_sort_key_version,
)
from seawall.commands.models import (
    CommandInputModel,
    CommandModel,
    CommandPartialInputModel,
    DataModel,
)
from seawall.commands.projection import DataSyncHandler, project
from seawall.commands.service import (
    DATA_SYNC_QUEUE,
    CommandService,
    DetailKey,
    ItemPage,
    deep_merge,
)

__all__ = [
    "DATA_SYNC_QUEUE",
    "HEADER_TENANT_CODE",
    "VERSION_FIRST",
    "VERSION_LATEST",
    "CommandError",
    "CommandInputModel",
    "CommandModel",
    "CommandNotFoundError",
    "CommandPartialInputModel",
    "CommandService",
    "DataModel",
    "DataSyncHandler",
    "DetailKey",
    "InvalidTokenError",
    "InvokeContext",
    "ItemPage",
    "UserContext",
    "VersionConflictError",
    "add_sort_key_version",
    "decode_jwt_claims",
    "deep_merge",
    "generate_id",
    "get_sort_key_version",
    "get_tenant_code",
    "get_user_context",
    "project",
    "remove_sort_key_version",
]
