"""Shared helpers of the command tests."""

from __future__ import annotations

from typing import Any

from seawall.commands import CommandModel, CommandNotification, DetailKey, InvokeContext
from seawall.jobs import Worker
from seawall.testing import FakeClock


async def drain(worker: Worker, clock: FakeClock, *, rounds: int = 20) -> int:
    """Run the worker until no job is waiting, moving the clock past retry waits; jobs done."""
    done = 0
    for _ in range(rounds):
        done += await worker.run_until_idle()
        async with worker.store.read() as tx:
            if not await tx.fetchval("SELECT COUNT(*) FROM seawall_jobs WHERE state = 0"):
                return done
        clock.advance(600)
    return done


CTX = InvokeContext(request_id="req-1", source_ip="192.0.2.1", claims={"sub": "u-1"})
KEY = DetailKey("ORDER#t1", "o-1")
DAY = 86400


def order(version: int | None, amount: int = 100, **extra: Any) -> dict[str, Any]:
    """An order command as the framework's JSON body (camelCase), based on `version`."""
    body: dict[str, Any] = {
        "pk": "ORDER#t1",
        "sk": "o-1",
        "code": "o-1",
        "name": "order",
        "type": "ORDER",
        "attributes": {"amount": amount},
        **extra,
    }
    if version is not None:
        body["version"] = version
    return body


class Recorder:
    """A DataSyncHandler (SQL or DynamoDB) remembering the versioned keys it saw, optionally
    failing."""

    name = "recorder"

    def __init__(self, fail: bool = False) -> None:
        self.seen: list[str] = []
        self.fail = fail

    async def up(self, cmd: CommandModel, tx: Any) -> None:
        """Record `cmd.sk` (versioned), then maybe fail."""
        self.seen.append(cmd.sk)
        if self.fail:
            raise RuntimeError("handler failed")

    async def down(self, cmd: CommandModel) -> None:
        """Nothing to undo."""


class Notes:
    """A notification hook collecting what it is told."""

    def __init__(self) -> None:
        self.got: list[CommandNotification] = []

    async def __call__(self, note: CommandNotification) -> None:
        """Keep the notification."""
        self.got.append(note)

    def statuses(self) -> list[tuple[str, str]]:
        """(versioned sk, status) of the command-status notifications."""
        return [(n.sk, n.content["status"]) for n in self.got if n.action == "command-status"]
