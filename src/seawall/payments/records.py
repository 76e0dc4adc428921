"""Payment records in the command store: one item per order, a new version per change.

Keys follow the guide: pk `PAYMENT#{tenant}`, sk `ORDER#{order_id}`, type `PAYMENT`. The guide
publishes with version 0 every time, so the second result for an order (a retry, a webhook)
crashes with a version conflict. Here every change is read-merge-publish based on the version
just read: if another writer got there first, the conflict is caught, the record re-read and the
update merged again (`state.merge` is idempotent and never moves a payment backwards), so
concurrent writers can neither crash nor overwrite each other's newer state.

Inside a caller's transaction (`tx=`, how webhook handlers record an event) the merge is read and
published in that transaction, and a conflict is not retried there: the VersionMismatchError
propagates, the whole transaction rolls back, and its job is retried later with backoff.

The records work on any `CommandApi` (the SQL CommandService, or DynamoCommandService in the AWS
mode); a caller's transaction exists on the SQL service only
(`CommandApi.joins_caller_transactions`). A caller's transaction the command API cannot join (a
webhook handler's DynamoTx: each DynamoDB publish is a TransactWriteItems of its own) is not
joined: the merge commits first, on its own and retried on conflicts, and the caller's writes
(the inbox mark) commit after it. A crash in between redelivers the event, whose second merge
finds nothing new (merges are idempotent per event id and refund id), so the record is still
changed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seawall.commands import (
    VERSION_FIRST,
    CommandApi,
    CommandInputModel,
    CommandModel,
    InvokeContext,
    VersionMismatchError,
)
from seawall.payments.models import PaymentError
from seawall.payments.state import PaymentUpdate, merge

__all__ = ["PAYMENT_TYPE", "PaymentRecord", "PaymentRecords", "payment_keys"]

PAYMENT_TYPE = "PAYMENT"
_CONFLICT_RETRIES = 20


def payment_keys(tenant: str, order_id: str) -> tuple[str, str]:
    """The record's (pk, sk): `PAYMENT#{tenant}`, `ORDER#{order_id}`."""
    return f"PAYMENT#{tenant}", f"ORDER#{order_id}"


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """The latest version of one order's payment record."""

    tenant: str
    order_id: str
    version: int
    attributes: dict[str, Any]

    @property
    def status(self) -> str:
        """`pending`, `success`, `failed` or `refunded`."""
        return str(self.attributes.get("status", "pending"))

    @property
    def transaction_id(self) -> str:
        """The provider's payment id, or "" when none is known."""
        return str(self.attributes.get("transaction_id") or "")


class PaymentRecords:
    """Reads and merges payment records through a command service (any `CommandApi`)."""

    def __init__(self, commands: CommandApi) -> None:
        self.commands = commands

    def _in(self, tx: Any) -> dict[str, Any]:
        """The `tx=` argument, when there is a caller's transaction the command API can join."""
        return {"tx": tx} if tx is not None and self.commands.joins_caller_transactions else {}

    async def get(self, tenant: str, order_id: str, *, tx: Any = None) -> PaymentRecord | None:
        """The latest record of an order (read in `tx` when given), or None."""
        pk, sk = payment_keys(tenant, order_id)
        latest = await self.commands.get_latest_item(pk, sk, **self._in(tx))
        if latest is None or latest.is_deleted:
            return None
        return PaymentRecord(tenant, order_id, latest.version, dict(latest.attributes))

    async def apply(
        self,
        tenant: str,
        update: PaymentUpdate,
        *,
        invoke_context: InvokeContext,
        tx: Any = None,
    ) -> CommandModel | None:
        """Merge `update` into the order's record; the new version, or None when unchanged.

        Without `tx` (or with one the command API cannot join, see the module docstring) each
        attempt commits on its own and a conflict is retried on the re-read record. With `tx`
        the merge is written in the caller's transaction, on top of the version read in it; a
        VersionMismatchError (a concurrent writer won) propagates.
        """
        if not tenant:
            raise PaymentError("a payment record needs a tenant code")
        if self._in(tx):
            return await self._merge_once(tenant, update, invoke_context, tx)
        pk, sk = payment_keys(tenant, update.order_id)
        for _ in range(_CONFLICT_RETRIES):
            try:
                return await self._merge_once(tenant, update, invoke_context, None)
            except VersionMismatchError:
                continue
        raise PaymentError(
            f"payment record {pk} {sk} changed under each of {_CONFLICT_RETRIES} updates"
        )

    async def _merge_once(
        self, tenant: str, update: PaymentUpdate, ctx: InvokeContext, tx: Any
    ) -> CommandModel | None:
        """Read the latest record, merge, publish on top of the version read."""
        pk, sk = payment_keys(tenant, update.order_id)
        latest = await self.commands.get_latest_item(pk, sk, **self._in(tx))
        merged = merge(None if latest is None else dict(latest.attributes), update)
        if merged is None:
            return None
        command = CommandInputModel(
            pk=pk,
            sk=sk,
            code=update.order_id,
            name=f"Payment for order {update.order_id}",
            version=VERSION_FIRST if latest is None else latest.version,
            tenant_code=tenant,
            type=PAYMENT_TYPE,
            attributes=merged,
        )
        return await self.commands.publish_sync(command, invoke_context=ctx, **self._in(tx))
