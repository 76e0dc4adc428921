"""The command service on DynamoDB, and command notifications to SNS.

Modules: `service` (publishing), `sync` (data sync), `projection` (the transaction that stores a
synced command), `queries`, `access` (the DynamoDB calls), `items` (the item shape), `sns`.

`DynamoCommandService` has the public API of `seawall.commands.CommandService` on the
framework's tables `{env}-{app}-{module}-command|data|history` (pk HASH, sk RANGE; command and
history items keyed `sk@version`, data items keyed by the bare sk), with the framework's item
shape (camelCase attributes, `attributes` as a map, `createdAt`/`updatedAt` as ISO 8601 strings
with a UTC offset, `ttl` as epoch seconds for DynamoDB's TTL). The version rules, "unchanged"
check, partial merge, audit fields, TTL policy and notifications come from
`seawall.commands.rules`, shared with the SQL service.

Writes and version checks:

- `publish_sync`: GetItem of the data item (consistent), the version checks, then ONE
  TransactWriteItems: the command `sk@N+1` (condition: not there yet), the previous command's
  `command` TTL (condition: it exists; dropped and the transaction retried once if it is gone),
  the history item (the data as it was before the change, `sk@N`), the new data item (condition:
  still at version N, or still absent), and whatever the data-sync handlers add. A lost race
  (either condition) is a 409 VersionConflictError (with -1: read again and retry); a version
  that does not fit is a 400 VersionMismatchError before anything is written.
- `publish_async`: the command item with status `publish_async:STARTED`, one conditional
  PutItem (409 when `sk@N+1` exists). `sk@N` must exist for N > 0 (GetItem; 400 if not).
- Data sync of async commands: `sync_item(pk, sk)` applies an item's pending commands in
  version order, each in one TransactWriteItems whose conditions (command still unfinished,
  data item still at the previous version) make concurrent syncs of one item safe: the loser
  stops, the winner's work stands. Wire it to the command table's DynamoDB stream with
  `handle_stream_event` (one call per item in the batch; a failure raises, so Lambda retries the
  batch, and re-syncing is idempotent); `seawall.aws.entry.command_stream_handler` is that
  function's entry point. A command the data item already passed without it
  finishing is marked `check_version:FAILED` and alarmed (`sfn-alarm`), as in the SQL service;
  a command whose previous version is stored but not synced waits for it; a missing previous
  command (expired) does not block. `sync_pending()` (no key) scans the table for unfinished
  commands: a repair tool, not a hot path.

API calls (what a publish costs; `AwsClients.calls` counts them):

| operation | calls |
| --- | --- |
| publish_sync, publish_partial_update_sync | GetItem + TransactWriteItems = 2 |
| publish_async with version 0 | PutItem = 1 |
| publish_async with N > 0, partial async with N > 0 | GetItem + PutItem = 2 |
| publish_async with -1, partial async with 0 or -1 | Query + PutItem = 2 (*) |
| sync_item | GetItem + Query (*) + one TransactWriteItems per command synced |
| get_item | GetItem = 1; `sk@N`: 1, or 2 when N is the current version (history, then data) |
| get_command `sk@N` | GetItem = 1 |
| get_latest_item, get_history | Query = 1 (*) |
| list_items_by_pk | Query = 1 per page (more when expired items are skipped) |
| each notification through SnsNotifier | Publish = 1 |

(*) one more Query page per ~1 MB of the item's stored versions.
A lost race adds a Query (for the latest version in the error) and, with -1, the retry's calls.

Differences from the SQL service: no caller transaction (`tx=`): DynamoDB transactions cannot
span reads, so every publish is its own TransactWriteItems (data-sync handlers implement
`DynamoDataSyncHandler`: their `up(cmd, tx)` adds writes to the same DynamoTx, up to 96 items);
async publishes are synced from the stream (`sync_item`), not by seawall's job queue; a sync
publish's command is stored as `finish:FINISHED` directly (the STARTED state lives and dies in
one transaction, and is not announced by either service); times are kept to the second (the
framework's stored form); numbers go through DynamoDB's decimal type, so `1` and `1.0` are the
same attribute value (the SQL service keeps JSON's distinction; the framework's JavaScript
numbers do not have it either); an item with no data TTL has no `ttl` attribute; expired items
that DynamoDB has not deleted yet are skipped on reads, so there is no `purge_expired`;
`get_latest_item` and `get_history` read all of an item's stored versions (command keys sort as
text, so `sk@10` sorts before `sk@9`).

Differences from the framework: the publish is atomic (a failed data-sync handler leaves
nothing stored; the framework keeps the command as `publish_sync:FAILED`); the command's
`updated*` are its own request's (the framework copies the data item's); no `syncMode` attribute
and no S3 offload of large attributes (an item stays under DynamoDB's 400 KB); sort keys with
a non-numeric `@` suffix are not versions (see `seawall.commands.keys`); the data item is
written with a version condition (the framework's putItem is unconditional); -1 retries a lost
race instead of a 409; `get_latest_item` queries the item's commands (the framework probes
GetItems from the data version + 5); no read-your-writes session item after an async publish;
and the data sync runs in seawall (from the stream) instead of a Step Functions state machine.
Items the framework wrote are read (attributes seawall does not know, e.g. `syncMode`, are
ignored).
"""

from __future__ import annotations

from seawall.aws.commands.access import DynamoDataSyncHandler
from seawall.aws.commands.service import DynamoCommandService
from seawall.aws.commands.sns import SnsNotifier

__all__ = ["DynamoCommandService", "DynamoDataSyncHandler", "SnsNotifier"]
