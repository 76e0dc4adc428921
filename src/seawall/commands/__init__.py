"""CQRS commands with the MBC CQRS Serverless framework's semantics, and the caller's context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    from seawall.commands.api import CommandApi, DetailKey, ItemPage

    # Names after `as` are kept importable for the library's own modules, not the surface.
    from seawall.commands.context import (
        HEADER_TENANT_CODE,
        InvokeContext,
        UserContext,
        get_user_context,
    )
    from seawall.commands.context import (
        decode_jwt_claims as decode_jwt_claims,
    )
    from seawall.commands.errors import (
        CommandError,
        CommandNotFoundError,
        InvalidTokenError,
        VersionConflictError,
        VersionMismatchError,
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
    from seawall.commands.projection import DataSyncHandler, command_status, project
    from seawall.commands.rules import CommandNotification
    from seawall.commands.rules import deep_merge as deep_merge
    from seawall.commands.service import DATA_SYNC_QUEUE, CommandService

__all__ = [
    "DATA_SYNC_QUEUE",
    "HEADER_TENANT_CODE",
    "VERSION_FIRST",
    "VERSION_LATEST",
    "CommandApi",
    "CommandError",
    "CommandInputModel",
    "CommandModel",
    "CommandNotFoundError",
    "CommandNotification",
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
    "VersionMismatchError",
    "add_sort_key_version",
    "command_status",
    "generate_id",
    "get_sort_key_version",
    "get_tenant_code",
    "get_user_context",
    "project",
    "remove_sort_key_version",
]

_HOMES = {
    "HEADER_TENANT_CODE": "seawall.commands.context",
    "InvokeContext": "seawall.commands.context",
    "UserContext": "seawall.commands.context",
    "decode_jwt_claims": "seawall.commands.context",
    "get_user_context": "seawall.commands.context",
    "CommandError": "seawall.commands.errors",
    "CommandNotFoundError": "seawall.commands.errors",
    "InvalidTokenError": "seawall.commands.errors",
    "VersionConflictError": "seawall.commands.errors",
    "VersionMismatchError": "seawall.commands.errors",
    "VERSION_FIRST": "seawall.commands.keys",
    "VERSION_LATEST": "seawall.commands.keys",
    "add_sort_key_version": "seawall.commands.keys",
    "generate_id": "seawall.commands.keys",
    "get_sort_key_version": "seawall.commands.keys",
    "get_tenant_code": "seawall.commands.keys",
    "remove_sort_key_version": "seawall.commands.keys",
    "CommandInputModel": "seawall.commands.models",
    "CommandModel": "seawall.commands.models",
    "CommandPartialInputModel": "seawall.commands.models",
    "DataModel": "seawall.commands.models",
    "DataSyncHandler": "seawall.commands.projection",
    "command_status": "seawall.commands.projection",
    "project": "seawall.commands.projection",
    "DATA_SYNC_QUEUE": "seawall.commands.service",
    "CommandNotification": "seawall.commands.rules",
    "CommandService": "seawall.commands.service",
    "CommandApi": "seawall.commands.api",
    "DetailKey": "seawall.commands.api",
    "ItemPage": "seawall.commands.api",
    "deep_merge": "seawall.commands.rules",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
