"""What both command services hold besides their storage: tables, clock, TTL policy, data-sync
handlers and status notifications.

`CommandService` (SQL) and `seawall.aws.commands.DynamoCommandService` build on `CommandCore`,
so registering handlers and notifiers, the TTL per table type, announcing status changes and
the audit fields of a new command have one home.
"""

from __future__ import annotations

import logging
from typing import Any, Generic, TypeVar

from seawall.clock import Clock
from seawall.commands.context import InvokeContext
from seawall.commands.keys import get_tenant_code
from seawall.commands.models import CommandInputModel
from seawall.commands.rules import (
    CommandNotification,
    Notifier,
    TtlDays,
    command_row,
    status_note,
    ttl_at,
)
from seawall.commands.tables import CommandTables

__all__ = ["CommandCore"]

log = logging.getLogger("seawall.commands")

H = TypeVar("H")


class CommandCore(Generic[H]):
    """Tables, clock, TTL policy, data-sync handlers (of type `H`) and notifiers of a service."""

    def __init__(
        self,
        tables: CommandTables,
        *,
        clock: Clock,
        source: str,
        ttl_days: TtlDays | None,
        notify: Notifier | None,
    ) -> None:
        self.tables = tables
        self.clock = clock
        self.default_source = source
        self._ttl_days = ttl_days
        self._handlers: list[H] = []
        self._notifiers: list[Notifier] = [notify] if notify is not None else []

    def register_data_sync_handler(self, handler: H) -> None:
        """Run `handler.up(cmd, tx)` for every synced command, after the ones added before."""
        if not callable(getattr(handler, "up", None)) or not callable(
            getattr(handler, "down", None)
        ):
            raise TypeError("a DataSyncHandler needs async up(cmd, tx) and down(cmd) methods")
        self._handlers.append(handler)

    @property
    def data_sync_handlers(self) -> tuple[H, ...]:
        """The registered handlers, in run order."""
        return tuple(self._handlers)

    def add_notifier(self, notify: Notifier) -> None:
        """Call `notify(notification)` for each command status change and alarm (e.g. an
        `SnsNotifier`). A failing notifier is logged, never raised."""
        self._notifiers.append(notify)

    def ttl_for(self, table_type: str, tenant_code: str | None) -> int | None:
        """Epoch seconds at which a row of `table_type` written now expires, or None."""
        return ttl_at(self._ttl_days, table_type, tenant_code, self.clock.time())

    def _now(self) -> int:
        return int(self.clock.time())

    def _note(self, row: dict[str, Any], status: str) -> CommandNotification:
        """The `command-status` notification of stored command `row` moving to `status`."""
        return status_note(self.tables.command, row, status, row["request_id"])

    async def _announce(self, notes: list[CommandNotification]) -> None:
        for note in notes:
            for notify in self._notifiers:
                try:
                    await notify(note)
                except Exception:
                    log.exception("command notification hook failed", extra={"action": note.action})

    def _new_command(
        self,
        item: CommandInputModel,
        version: int,
        status: str,
        ctx: InvokeContext,
        source: str | None,
        request_id: str | None,
        *,
        now: float,
        attributes: Any,
    ) -> dict[str, Any]:
        """Command `item` stored as `version`: its source (given, the caller's, or the
        service's) and its TTL (its own, else the `data` TTL of its tenant)."""
        return command_row(
            item,
            version=version,
            status=status,
            ctx=ctx,
            source=source or ctx.source or self.default_source,
            request_id=request_id,
            now=now,
            ttl=self.ttl_for("data", get_tenant_code(item.pk)) if item.ttl is None else item.ttl,
            attributes=attributes,
        )
