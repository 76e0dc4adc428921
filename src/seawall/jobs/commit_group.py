"""Group commit of concurrent commit blocks: many blocks, one transaction, one commit.

Commit blocks that arrive while a group transaction is open run one after another in it, each
inside its own savepoint, so a block that raises (or whose job's lease was lost) rolls back
only its own effects. The group commits once; every block's `async with` returns only after
that commit succeeded, and raises if it failed. Groups run in a few lanes (each a pooled
connection): a block joins the lane with the shortest queue, so one lane's commit overlaps
another lane's blocks. A block is meant to be short (its I/O comes before it): a block that
waits inside holds back the blocks queued behind it in its lane.

A group only grows while it pays: a block that joins a group makes the blocks before it wait for
its body, and saves itself a commit of its own. So a lane hands its open transaction on only
while its commits take longer than its blocks' bodies (running averages of both); otherwise each
block commits on its own, and the lanes still bound how many commit at once.

Used on PostgreSQL, where every separate transaction costs its own round trips and WAL flush.
SQLite's store already commits concurrent transactions together, so blocks there open their own.
"""

from __future__ import annotations

import asyncio
import time
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
SMOOTHING = 0.2
"""Weight of the newest block or commit in a lane's running averages of their durations."""


class _Turn:
    """One block waiting for, holding, or done with its place in a group transaction."""

    __slots__ = ("committed", "granted", "scoped")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.granted: asyncio.Future[Tx] = loop.create_future()
        self.committed: asyncio.Future[None] = loop.create_future()
        self.scoped: LazySavepointTx | None = None


class _Lane:
    """One connection's worth of group transactions, and the blocks queued for them.

    While a group is open, the block that holds its transaction hands it on to the next block
    waiting when it finishes (no task switch in between); the lane's task only opens each
    group, wakes to commit when nobody is left to hand on to, and tells the members."""

    __slots__ = (
        "body_s",
        "broken",
        "closed",
        "commit_s",
        "committing",
        "granted",
        "granted_at",
        "holder",
        "members",
        "task",
        "tx",
        "waiting",
    )

    def __init__(self) -> None:
        self.waiting: deque[_Turn] = deque()
        self.task: asyncio.Task[None] | None = None
        self.tx: Tx | None = None
        self.holder: _Turn | None = None
        self.members: list[_Turn] = []
        self.granted = 0
        self.broken: BaseException | None = None
        self.closed: asyncio.Future[None] | None = None
        self.committing = False
        self.granted_at = 0.0
        self.body_s = 0.0
        """Running average of the time a block holds the transaction (its body)."""
        self.commit_s = 0.0
        """Running average of the time a group's commit takes."""

    def room(self, group_max: int, adaptive: bool) -> bool:
        """Whether the open group may take another block: up to `group_max`, and when
        `adaptive` only while commits cost more than bodies (else one block a transaction)."""
        paying = not adaptive or self.commit_s > self.body_s
        return self.granted < (group_max if paying else 1)


def _queue_length(lane: _Lane) -> int:
    """Blocks waiting in a lane, and the one holding its transaction or its commit under way
    (a block sent to a committing lane would wait for that commit)."""
    return len(lane.waiting) + (lane.holder is not None) + lane.committing


class CommitGroups:
    """Runs concurrent commit blocks inside shared transactions (see the module docstring)."""

    def __init__(
        self, store: Store, *, lanes: int = 2, group_max: int = GROUP_MAX, adaptive: bool = True
    ) -> None:
        """`lanes` group transactions at once, of `group_max` blocks at most; with `adaptive`
        False, a group takes whatever waits (up to `group_max`) whether or not that pays."""
        self.store = store
        self.group_max = max(1, group_max)
        self.adaptive = adaptive
        self._lanes = [_Lane() for _ in range(max(1, lanes))]

    @asynccontextmanager
    async def block(self) -> AsyncIterator[Tx]:
        """A savepoint-scoped part of a group transaction; returns once the group committed."""
        turn = _Turn(asyncio.get_running_loop())
        lane = min(self._lanes, key=_queue_length)
        lane.waiting.append(turn)
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._run_lane(lane))
        try:
            tx = await turn.granted
        except BaseException:
            if turn in lane.waiting:
                lane.waiting.remove(turn)
            elif lane.holder is turn:  # granted as it was cancelled: hand the group on
                self._hand_on(lane)
            raise
        turn.scoped = LazySavepointTx(tx, BLOCK_SAVEPOINT, joined=True)
        try:
            yield turn.scoped
        except BaseException:
            if turn.scoped.opened:
                try:
                    await rollback_savepoint(tx, BLOCK_SAVEPOINT, release=False)
                except BaseException as exc:  # the group's transaction is beyond saving
                    lane.broken = exc
            self._hand_on(lane)
            raise
        lane.members.append(turn)
        self._hand_on(lane)
        await asyncio.shield(turn.committed)

    def _hand_on(self, lane: _Lane) -> None:
        """Give the open group's transaction to the next block waiting, if the group has room
        and is sound; otherwise wake the lane's task to commit it."""
        now = time.perf_counter()
        if lane.holder is not None:
            lane.body_s += SMOOTHING * (now - lane.granted_at - lane.body_s)
        lane.holder = None
        if lane.broken is None and lane.tx is not None:
            while lane.waiting and lane.room(self.group_max, self.adaptive):
                turn = lane.waiting.popleft()
                if turn.granted.cancelled():
                    continue
                lane.holder = turn
                lane.granted += 1
                lane.granted_at = now
                turn.granted.set_result(lane.tx)
                return
        if lane.closed is not None and not lane.closed.done():
            lane.closed.set_result(None)

    async def _run_lane(self, lane: _Lane) -> None:
        """Open group transactions while blocks wait in this lane; each commits once."""
        loop = asyncio.get_running_loop()
        while lane.waiting:
            lane.members, lane.granted, lane.broken = [], 0, None
            try:
                async with self.store.transaction() as tx:
                    lane.tx = tx
                    # Hand the transaction on until nobody is left to take it; blocks that
                    # arrived while this task woke up still join before the commit.
                    while lane.waiting and lane.room(self.group_max, self.adaptive):
                        lane.closed = loop.create_future()
                        self._hand_on(lane)
                        await lane.closed
                        if lane.broken is not None:
                            raise lane.broken
                    lane.tx = None
                    lane.committing = True
                    started = time.perf_counter()
                lane.commit_s += SMOOTHING * (time.perf_counter() - started - lane.commit_s)
            except BaseException as exc:
                lane.tx = None
                lane.committing = False
                self._fail(lane, exc)
                if not lane.granted:  # no transaction to be had: fail the waiting blocks too
                    while lane.waiting:
                        turn = lane.waiting.popleft()
                        if not turn.granted.done():
                            turn.granted.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            lane.committing = False
            for turn in lane.members:
                turn.committed.set_result(None)

    @staticmethod
    def _fail(lane: _Lane, exc: BaseException) -> None:
        """Tell every block of a failed group that its commit failed."""
        holder = [lane.holder] if lane.holder is not None else []
        for turn in [*lane.members, *holder]:
            if not turn.committed.done():
                turn.committed.set_exception(exc)
                turn.committed.exception()  # marked retrieved: the block may have gone
