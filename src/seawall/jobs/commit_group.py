"""Group commit of concurrent commit blocks: many blocks, one transaction, one commit.

Commit blocks that arrive while a group transaction is open run one after another in it, each
inside its own savepoint, so a block that raises (or whose job's lease was lost) rolls back
only its own effects. The group commits once; every block's `async with` returns only after
that commit succeeded, and raises if it failed. Groups run in a few lanes (each a pooled
connection): a block joins the lane with the shortest queue, so one lane's commit overlaps
another lane's blocks. A block is meant to be short (its I/O comes before it): a block that
waits inside holds back the blocks queued behind it in its lane.

Used on PostgreSQL, where every separate transaction costs its own round trips and WAL flush.
SQLite's store already commits concurrent transactions together, so blocks there open their own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from seawall.store.base import Store, Tx
from seawall.store.savepoints import LazySavepointTx, rollback_savepoint

__all__ = ["BLOCK_SAVEPOINT", "CommitGroups"]

BLOCK_SAVEPOINT = "seawall_block"
"""Each block of a group transaction runs inside a savepoint of this name."""
GROUP_MAX = 8
"""Blocks per group transaction at most: a block waits for the blocks after it in its group, so
small groups in several lanes keep that wait short (and well under PostgreSQL's 64 cached
subtransactions per backend; every block that writes is one)."""


class _Turn:
    """One block waiting for, holding, or done with its place in a group transaction."""

    __slots__ = ("committed", "finished", "granted", "scoped")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.granted: asyncio.Future[Tx] = loop.create_future()
        self.finished: asyncio.Future[bool] = loop.create_future()
        self.committed: asyncio.Future[None] = loop.create_future()
        self.scoped: LazySavepointTx | None = None


class _Lane:
    """One connection's worth of group transactions, and the blocks queued for them."""

    __slots__ = ("busy", "task", "waiting")

    def __init__(self) -> None:
        self.waiting: deque[_Turn] = deque()
        self.task: asyncio.Task[None] | None = None
        self.busy = False


class CommitGroups:
    """Runs concurrent commit blocks inside shared transactions (see the module docstring)."""

    def __init__(self, store: Store, *, lanes: int = 2, group_max: int = GROUP_MAX) -> None:
        self.store = store
        self.group_max = max(1, group_max)
        self._lanes = [_Lane() for _ in range(max(1, lanes))]

    @asynccontextmanager
    async def block(self) -> AsyncIterator[Tx]:
        """A savepoint-scoped part of a group transaction; returns once the group committed."""
        turn = _Turn(asyncio.get_running_loop())
        lane = min(self._lanes, key=lambda candidate: len(candidate.waiting) + candidate.busy)
        lane.waiting.append(turn)
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._run_lane(lane))
        try:
            tx = await turn.granted
        except BaseException:
            if turn in lane.waiting:
                lane.waiting.remove(turn)
            elif turn.granted.done() and not turn.granted.cancelled():
                turn.finished.set_result(False)  # granted as it was cancelled: give it back
            raise
        turn.scoped = LazySavepointTx(tx, BLOCK_SAVEPOINT, joined=True)
        try:
            yield turn.scoped
        except BaseException:
            turn.finished.set_result(False)
            raise
        turn.finished.set_result(True)
        await asyncio.shield(turn.committed)

    async def _run_lane(self, lane: _Lane) -> None:
        """Open group transactions while blocks wait in this lane; each commits once."""
        while lane.waiting:
            members: list[_Turn] = []
            current: _Turn | None = None
            granted = 0
            try:
                async with self.store.transaction() as tx:
                    while lane.waiting and granted < self.group_max:
                        current = lane.waiting.popleft()
                        if current.granted.cancelled():
                            continue
                        lane.busy = True
                        granted += 1
                        current.granted.set_result(tx)
                        kept = await current.finished
                        lane.busy = False
                        if kept:
                            members.append(current)
                        elif current.scoped is not None and current.scoped.opened:
                            await rollback_savepoint(tx, BLOCK_SAVEPOINT, release=False)
                        current = None
                        if not lane.waiting:
                            await asyncio.sleep(0)  # blocks ready right now join this group
            except BaseException as exc:
                lane.busy = False
                self._fail(members, current, exc)
                if not granted:  # no transaction to be had: fail the waiting blocks too
                    while lane.waiting:
                        turn = lane.waiting.popleft()
                        if not turn.granted.done():
                            turn.granted.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for turn in members:
                turn.committed.set_result(None)

    @staticmethod
    def _fail(members: list[_Turn], current: _Turn | None, exc: BaseException) -> None:
        """Tell every block of a failed group that its commit failed."""
        for turn in [*members, *([current] if current is not None else [])]:
            if not turn.committed.done():
                turn.committed.set_exception(exc)
                turn.committed.exception()  # marked retrieved: the block may have gone
