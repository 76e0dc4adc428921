"""The DynamoDB command service's projection: ONE TransactWriteItems that stores a command
(or marks it finished), its previous command's TTL, the history copy, the new data item and the
data-sync handlers' writes, committed with its version conditions."""

from __future__ import annotations

import asyncio

from seawall.aws.commands.access import DynamoAccess
from seawall.aws.commands.items import Row, item_of
from seawall.aws.transact import DynamoTx, TransactionCancelledError
from seawall.commands.keys import add_sort_key_version
from seawall.commands.models import CommandModel
from seawall.commands.projection import STATUS_FINISHED, SyncProgress, run_handlers
from seawall.commands.rules import data_row
from seawall.commands.tables import COMMAND_COLUMNS, DATA_COLUMNS

__all__ = ["DynamoProjection"]

_CONFLICT_RETRIES = 5
_COMMAND, _PREVIOUS, _HISTORY, _DATA = "command", "previous command", "history", "data"


def _lost(exc: TransactionCancelledError) -> bool:
    """The transaction lost a version race (a condition on the command or data item)."""
    return exc.failed(_COMMAND) or exc.failed(_DATA)


def _conflicted(exc: TransactionCancelledError) -> bool:
    """Only concurrent transactions on the same items got in the way: commit again."""
    reasons = [r for r in exc.reasons if r not in (None, "None")]
    return bool(reasons) and all(r == "TransactionConflict" for r in reasons)


def _only_previous(exc: TransactionCancelledError) -> bool:
    """Only the previous command's TTL update failed (it is gone): commit without it."""
    failed = {
        lab for lab, r in zip(exc.labels, exc.reasons, strict=False) if r not in (None, "None")
    }
    return failed == {_PREVIOUS}


class DynamoProjection(DynamoAccess):
    """Builds and commits the projection transaction of a command."""

    async def _project(
        self,
        command: Row,
        data: Row | None,
        *,
        new: bool,
        with_previous: bool,
        progress: SyncProgress,
    ) -> DynamoTx:
        """The TransactWriteItems that stores `command` (new: put it, else: mark it finished),
        its previous command's TTL, the history copy of `data` and the new data item."""
        tx = DynamoTx(self.clients)
        pk, sk, version = command["pk"], command["sk"], int(command["version"])
        versioned = add_sort_key_version(sk, version)
        tenant = command["tenant_code"] or None
        if new:
            tx.put(
                self.tables.command,
                item_of({**command, "status": STATUS_FINISHED}, COMMAND_COLUMNS, versioned=True),
                condition="attribute_not_exists(pk)",
                label=_COMMAND,
            )
        else:
            tx.update(
                self.tables.command,
                {"pk": pk, "sk": versioned},
                "SET #s = :s",
                condition="#s = :was",
                names={"#s": "status"},
                values={":s": STATUS_FINISHED, ":was": command["status"]},
                label=_COMMAND,
            )
        if not new:
            progress.step = "set_ttl_command"
        command_ttl = self.ttl_for("command", tenant) if version > 1 else None
        if command_ttl is not None and with_previous:
            tx.update(
                self.tables.command,
                {"pk": pk, "sk": add_sort_key_version(sk, version - 1)},
                "SET #t = :t",
                condition="attribute_exists(pk)",
                names={"#t": "ttl"},
                values={":t": command_ttl},
                label=_PREVIOUS,
            )
        if not new:
            progress.step = "history_copy"
        if data is not None:
            history = {**data, "ttl": self.ttl_for("history", tenant)}
            tx.put(
                self.tables.history,
                item_of(history, DATA_COLUMNS, versioned=True),
                label=_HISTORY,
            )
        if not new:
            progress.step = "sync_data"
        projected = data_row(command, self._live(data))
        if data is None:
            tx.put(
                self.tables.data,
                item_of(projected, DATA_COLUMNS, versioned=False),
                condition="attribute_not_exists(pk)",
                label=_DATA,
            )
        else:
            tx.put(
                self.tables.data,
                item_of(projected, DATA_COLUMNS, versioned=False),
                condition="#v = :v",
                names={"#v": "version"},
                values={":v": int(data["version"])},
                label=_DATA,
            )
        if self._handlers:
            model = CommandModel.from_row({**command, "status": STATUS_FINISHED})
            await run_handlers(model, self._handlers, tx)
        return tx

    async def _commit(
        self,
        command: Row,
        data: Row | None,
        *,
        new: bool,
        progress: SyncProgress,
    ) -> bool:
        """Build and commit the projection; False when it lost a version race."""
        with_previous = True
        for _ in range(_CONFLICT_RETRIES):
            tx = await self._project(
                command, data, new=new, with_previous=with_previous, progress=progress
            )
            try:
                await asyncio.to_thread(tx.commit)
            except TransactionCancelledError as exc:
                if _only_previous(exc) and with_previous:
                    with_previous = False  # the previous command expired: nothing to set
                    continue
                if _lost(exc):
                    return False
                if _conflicted(exc):
                    await self.clock.sleep(0.01)
                    continue
                raise
            return True
        return False
