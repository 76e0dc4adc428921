"""The DynamoDB command service's data sync of async commands: per item in version order, from
the command table's stream (`handle_stream_event`) or as a repair (`sync_pending`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from seawall.aws.commands.projection import DynamoProjection
from seawall.aws.transact import from_item, to_item
from seawall.commands.keys import remove_sort_key_version
from seawall.commands.projection import (
    FAILED,
    STATUS_FINISHED,
    STATUS_GAP,
    STATUS_PENDING,
    SyncProgress,
    VersionGapError,
    command_status,
)
from seawall.commands.rules import CommandNotification, data_row, gap_alarm, sync_order
from seawall.commands.tables import COMMAND_COLUMNS, DATA_COLUMNS

__all__ = ["DynamoDataSync"]

log = logging.getLogger("seawall.aws.commands")


class DynamoDataSync(DynamoProjection):
    """Syncs an item's pending commands, from the stream or on repair."""

    async def sync_item(self, pk: str, sk: str) -> int:
        """Sync the item's pending commands in version order; how many were synced.

        Stops at a command whose previous version is stored but not synced (it waits), and
        when another sync of the item got ahead (its work stands). A command the data item
        passed without it finishing is marked `check_version:FAILED` and alarmed. A failing
        step marks the command `<step>:FAILED` and raises (the stream retries it).
        """
        sk = remove_sort_key_version(sk)
        data = await self._get(self.tables.data, pk, sk, DATA_COLUMNS)
        commands = await self._versions(self.tables.command, pk, sk, COMMAND_COLUMNS)
        stored = {int(c["version"]) for c in commands}
        notes: list[CommandNotification] = []
        count = 0
        try:
            for command in commands:
                if command["status"] in (STATUS_FINISHED, STATUS_GAP):
                    continue
                version = int(command["version"])
                data_version = 0 if data is None else int(data["version"])
                order = sync_order(version, data_version)
                if order == "behind":
                    if await self._set_status(command, STATUS_GAP, unless=STATUS_FINISHED):
                        note = self._note(command, STATUS_GAP)
                        cause = str(VersionGapError(pk, sk, data_version + 1, version))
                        log.error("data-sync version gap", extra={"cause": cause})
                        notes += [note, gap_alarm(note, cause)]
                    continue
                if order == "ahead" and version - 1 in stored:
                    break  # the previous version is stored but not synced: wait for it
                progress = SyncProgress()
                try:
                    synced = await self._commit(command, data, new=False, progress=progress)
                except Exception:
                    status = command_status(progress.step, FAILED)
                    await self._set_status(command, status, unless=STATUS_FINISHED)
                    notes.append(self._note(command, status))
                    raise
                if not synced:
                    break  # another sync of this item got here first
                data = data_row(command, self._live(data))
                command["status"] = STATUS_FINISHED
                notes.append(self._note(command, STATUS_FINISHED))
                count += 1
        finally:
            await self._announce(notes)
        return count

    async def sync_pending(
        self, pk: str | None = None, sk: str | None = None, *, limit: int = 100
    ) -> int:
        """Sync pending commands: of one item (`pk`, `sk`), or of up to `limit` items found by
        scanning the command table (a repair tool: a Scan reads the whole table)."""
        if pk is not None and sk is not None:
            return await self.sync_item(pk, sk)
        request: dict[str, Any] = {
            "TableName": self.tables.command,
            "FilterExpression": "NOT #s IN (:fin, :gap)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": to_item({":fin": STATUS_FINISHED, ":gap": STATUS_GAP}),
            "ProjectionExpression": "pk, sk",
            "ConsistentRead": True,
        }
        items: dict[tuple[str, str], None] = {}
        while len(items) < limit:
            answer = await self._call("scan", **request)
            for raw in answer.get("Items", []):
                found = from_item(raw)
                items.setdefault((str(found["pk"]), remove_sort_key_version(str(found["sk"]))))
            last = answer.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
        total = 0
        for item_pk, item_sk in sorted(items)[:limit]:
            total += await self.sync_item(item_pk, item_sk)
        return total

    async def handle_stream_event(self, event: Mapping[str, Any]) -> int:
        """Lambda handler body for the command table's DynamoDB stream: sync each item that got
        a new async command (`publish_async:STARTED`), once per item per batch, in the order the
        items first appear; how many commands were synced. Raises on a failure (Lambda retries
        the batch; syncing again is idempotent)."""
        keys: dict[tuple[str, str], None] = {}
        for record in event.get("Records", []):
            if record.get("eventName") not in ("INSERT", "MODIFY"):
                continue
            image = (record.get("dynamodb") or {}).get("NewImage") or {}
            if not image:
                continue
            found = from_item(image)
            if found.get("status") != STATUS_PENDING:
                continue
            keys.setdefault((str(found["pk"]), remove_sort_key_version(str(found["sk"]))))
        total = 0
        for pk, sk in keys:
            total += await self.sync_item(pk, sk)
        return total
