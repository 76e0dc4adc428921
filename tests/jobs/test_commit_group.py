"""Group commit of commit blocks on both engines: one transaction, each block on its own."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from seawall.jobs import JobRun, LeaseLostError, Queue, Worker
from seawall.jobs.commit_group import CommitGroups
from seawall.resilience import Constant
from seawall.store import Store, Tx
from seawall.testing import FakeClock

INSERT = "INSERT INTO effects (job_id, note) VALUES (?, ?)"


async def _effects_table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (job_id TEXT PRIMARY KEY, note TEXT NOT NULL)")


async def _effects(store: Store) -> dict[str, str]:
    async with store.read() as tx:
        return {r["job_id"]: r["note"] for r in await tx.fetchall("SELECT * FROM effects")}


async def _claimed_runs(store: Store, queue: Queue, groups: CommitGroups, n: int) -> list[JobRun]:
    await queue.enqueue_many("orders", [{"n": i} for i in range(n)])
    jobs = await queue.claim("orders", limit=n, visibility_timeout=30)
    jobs.sort(key=lambda job: job.payload["n"])
    return [JobRun(job, store, queue, groups) for job in jobs]


async def _txid(tx: Tx) -> int | None:
    """The server's transaction id on PostgreSQL (None on SQLite, which has none to show)."""
    return int(await tx.fetchval("SELECT txid_current()")) if tx.engine == "postgresql" else None


async def test_blocks_share_a_commit_and_a_failing_one_rolls_back_alone(store: Store) -> None:
    await _effects_table(store)
    queue = Queue(store)
    groups = CommitGroups(store, lanes=1, adaptive=False)
    runs = await _claimed_runs(store, queue, groups, 5)
    txids: dict[int, int | None] = {}
    first_in = asyncio.Event()

    async def block(run: JobRun) -> None:
        n = run.payload["n"]
        if n:
            await first_in.wait()  # every other block queues behind the first one
        async with run.commit() as tx:
            first_in.set()
            await asyncio.sleep(0.01)
            await tx.execute(INSERT, (run.id, f"it's {n} and 100% quoted"))
            txids[n] = await _txid(tx)
            if n == 2:
                raise ValueError("inside the block: only its own effects and ack roll back")

    outcomes = await asyncio.gather(*(block(run) for run in runs), return_exceptions=True)
    assert [isinstance(o, ValueError) for o in outcomes] == [False, False, True, False, False]
    assert [o is None for o in outcomes] == [True, True, False, True, True]
    kept = [run for run in runs if run.payload["n"] != 2]
    expected = {run.id: f"it's {run.payload['n']} and 100% quoted" for run in kept}
    assert await _effects(store) == expected
    assert [run.committed for run in runs] == [True, True, False, True, True]
    jobs = [await queue.get_job(run.id) for run in runs]
    assert [job.state if job else None for job in jobs] == ["done"] * 2 + ["pending"] + ["done"] * 2
    if store.engine == "postgresql":
        assert len(set(txids.values())) < len(txids), "queued blocks joined one transaction"


async def test_a_first_statement_travels_with_the_savepoint_quoted_as_given(
    store: Store,
) -> None:
    """On PostgreSQL a block's first statement joins the savepoint in one round trip, its
    parameters bound client-side: text with quotes, `%` and `?` must arrive unchanged."""
    await _effects_table(store)
    groups = CommitGroups(store, lanes=1, adaptive=False)
    hostile = "it's 100% ? %s '); DROP TABLE effects; --"
    async with groups.block() as tx:
        assert await tx.execute(INSERT, ("a", hostile)) == 1
    with pytest.raises(ValueError, match="rolled back"):
        async with groups.block() as tx:
            await tx.execute(INSERT, ("b", hostile))
            raise ValueError("rolled back to the savepoint")
    assert await _effects(store) == {"a": hostile}


async def test_a_lost_lease_in_a_group_rolls_back_that_block_only(
    store: Store, clock: FakeClock
) -> None:
    await _effects_table(store)
    queue = Queue(store)
    groups = CommitGroups(store, lanes=1, adaptive=False)
    [late] = await _claimed_runs(store, queue, groups, 1)
    clock.advance(31)
    [again] = await queue.claim("orders", visibility_timeout=30)  # another worker took it
    fresh = await _claimed_runs(store, queue, groups, 2)

    async def block(run: JobRun) -> None:
        async with run.commit() as tx:
            await tx.execute(INSERT, (run.id, "x"))

    outcomes = await asyncio.gather(*(block(run) for run in [late, *fresh]), return_exceptions=True)
    assert isinstance(outcomes[0], LeaseLostError) and outcomes[1:] == [None, None]
    assert sorted(await _effects(store)) == sorted(run.id for run in fresh)
    job = await queue.get_job(again.id)
    assert job is not None and job.state == "pending" and job.lease_token == again.lease_token


async def test_a_failed_group_commit_fails_every_block_of_the_group(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE parents (id TEXT PRIMARY KEY)")
        await tx.execute(
            "CREATE TABLE children (id TEXT PRIMARY KEY, parent TEXT "
            "REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    queue = Queue(store)
    groups = CommitGroups(store, lanes=1, adaptive=False)
    runs = await _claimed_runs(store, queue, groups, 3)
    first_in = asyncio.Event()

    async def block(run: JobRun) -> None:
        n = run.payload["n"]
        if n:
            await first_in.wait()
        async with run.commit() as tx:
            first_in.set()
            await asyncio.sleep(0.01)
            # the last block's child has no parent: checked only when the group commits
            parent = "nobody" if n == 2 else run.id
            if n != 2:
                await tx.execute("INSERT INTO parents (id) VALUES (?)", (run.id,))
            await tx.execute("INSERT INTO children (id, parent) VALUES (?, ?)", (run.id, parent))

    outcomes = await asyncio.gather(*(block(run) for run in runs), return_exceptions=True)
    assert all(isinstance(o, Exception) for o in outcomes), outcomes
    assert not any(run.committed for run in runs)
    async with store.read() as tx:
        assert await tx.fetchval("SELECT COUNT(*) FROM children") == 0
    for run in runs:
        job = await queue.get_job(run.id)
        assert job is not None and job.state == "pending", "no ack without its effects"


async def test_a_block_cancelled_in_the_queue_leaves_the_lane_working(store: Store) -> None:
    await _effects_table(store)
    queue = Queue(store)
    groups = CommitGroups(store, lanes=1, adaptive=False)
    first, second, third = await _claimed_runs(store, queue, groups, 3)
    inside, release = asyncio.Event(), asyncio.Event()

    async def block(run: JobRun, hold: bool = False) -> None:
        async with run.commit() as tx:
            await tx.execute(INSERT, (run.id, "x"))
            if hold:
                inside.set()
                await release.wait()

    holder = asyncio.create_task(block(first, hold=True))
    await inside.wait()
    queued = asyncio.create_task(block(second))
    await asyncio.sleep(0.01)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    release.set()
    await holder
    await block(third)
    assert sorted(await _effects(store)) == sorted([first.id, third.id])
    job = await queue.get_job(second.id)
    assert job is not None and job.state == "pending"


async def test_a_worker_groups_blocks_and_fails_only_the_raising_ones(store: Store) -> None:
    await _effects_table(store)
    queue = Queue(store, default_max_receives=1)
    worker = Worker(store, queue=queue, concurrency=32, backoff=Constant(0.0))
    everyone = asyncio.Barrier(32)

    @worker.handler("orders", commit_block=True)
    async def handle(run: JobRun) -> None:
        async with asyncio.timeout(10):
            await everyone.wait()  # every block arrives at once, so they queue in lanes
        async with run.commit() as tx:
            await tx.execute(INSERT, (run.id, "x"))
            if run.payload["n"] % 5 == 0:
                raise ValueError("rolled back alone")

    ids = await queue.enqueue_many("orders", [{"n": n} for n in range(32)])
    await worker.run_until_idle()
    raising = {job_id for n, job_id in enumerate(ids) if n % 5 == 0}
    assert sorted(await _effects(store)) == sorted(i for i in ids if i and i not in raising)
    assert (worker.processed, worker.dead_lettered) == (32 - len(raising), len(raising))


def _stop_lanes(groups: CommitGroups) -> None:
    """Cancel the lanes' tasks, so a stuck group rolls back and gives its connection back."""
    for lane in groups._lanes:
        if lane.task is not None:
            lane.task.cancel()


async def test_a_block_cancelled_as_it_is_granted_hands_the_group_on(store: Store) -> None:
    await _effects_table(store)
    groups = CommitGroups(store, lanes=1, adaptive=False)
    inside, release = asyncio.Event(), asyncio.Event()
    bodies: list[str] = []
    tasks: dict[str, asyncio.Task[None]] = {}

    async def holder() -> None:
        async with groups.block() as tx:
            await tx.execute(INSERT, ("a", "x"))
            inside.set()
            await release.wait()
            # Runs after this block hands the group to "b" and before "b" takes it up.
            asyncio.get_running_loop().call_soon(tasks["b"].cancel)

    async def block(name: str) -> None:
        async with groups.block() as tx:
            bodies.append(name)
            await tx.execute(INSERT, (name, "x"))

    first = asyncio.create_task(holder())
    await inside.wait()
    tasks["b"] = asyncio.create_task(block("b"))
    tasks["c"] = asyncio.create_task(block("c"))
    for _ in range(5):
        await asyncio.sleep(0)  # both queue behind the holder
    release.set()
    try:
        async with asyncio.timeout(10):
            await first
            with pytest.raises(asyncio.CancelledError):
                await tasks["b"]
            await tasks["c"]
            await block("d")  # the lane still opens new groups
    except TimeoutError:
        _stop_lanes(groups)
        pytest.fail("the group was not handed on past the cancelled block")
    assert bodies == ["c", "d"]
    assert sorted(await _effects(store)) == ["a", "c", "d"]


async def test_fifty_blocks_through_two_lanes_of_four_commit_exactly_once(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE hits (block INTEGER NOT NULL)")
        await tx.execute("CREATE TABLE tally (n INTEGER NOT NULL)")
        await tx.execute("INSERT INTO tally (n) VALUES (0)")
    groups = CommitGroups(store, lanes=2, group_max=4, adaptive=False)
    bodies: list[int] = []
    returned: list[int] = []
    txids: dict[int, int | None] = {}

    async def block(i: int) -> None:
        for _ in range(i % 3):
            await asyncio.sleep(0)  # arrive staggered, some while groups are open
        async with groups.block() as tx:
            bodies.append(i)
            await tx.execute("INSERT INTO hits (block) VALUES (?)", (i,))
            if i % 4 == 0:
                await asyncio.sleep(0)
            await tx.execute("UPDATE tally SET n = n + 1")
            txids[i] = await _txid(tx)
        returned.append(i)

    async with asyncio.timeout(60):
        await asyncio.gather(*(block(i) for i in range(50)))
    assert sorted(bodies) == sorted(returned) == list(range(50))
    async with store.read() as tx:
        hits = sorted(int(r["block"]) for r in await tx.fetchall("SELECT block FROM hits"))
        assert await tx.fetchval("SELECT n FROM tally") == 50
    assert hits == list(range(50))
    if store.engine == "postgresql":
        sizes = Counter(txids.values())
        assert max(sizes.values()) <= 4, sizes
        assert len(sizes) < 50, "blocks shared group transactions"


def test_a_lane_groups_only_while_commits_cost_more_than_bodies() -> None:
    from seawall.jobs.commit_group import _Lane

    lane = _Lane()
    lane.granted = 1
    lane.body_s, lane.commit_s = 0.002, 0.001  # a block's body is dearer than a commit
    assert not lane.room(8, adaptive=True)
    assert lane.room(8, adaptive=False)
    lane.body_s, lane.commit_s = 0.001, 0.002  # a commit is dearer: blocks join
    assert lane.room(8, adaptive=True)
    lane.granted = 8
    assert not lane.room(8, adaptive=True)  # never past group_max


async def _txids_of_queued_blocks(groups: CommitGroups, round_: str, body_s: float) -> list[int]:
    """Run 6 blocks that queue in one lane, each sleeping `body_s` inside; their txids."""
    txids: list[int] = []
    first_in = asyncio.Event()

    async def block(n: int) -> None:
        if n:
            await first_in.wait()
        async with groups.block() as tx:
            first_in.set()
            await tx.execute(INSERT, (f"{round_}-{n}", "x"))
            await asyncio.sleep(body_s)
            txids.append(int(await tx.fetchval("SELECT txid_current()")))

    await asyncio.gather(*(block(n) for n in range(6)))
    return txids


async def test_adaptive_lanes_commit_each_block_alone_when_bodies_are_dear(
    store: Store,
) -> None:
    if store.engine != "postgresql":
        pytest.skip("group commits run on PostgreSQL only (SQLite shares its own commits)")
    await _effects_table(store)
    groups = CommitGroups(store, lanes=1)
    await _txids_of_queued_blocks(groups, "learn", 0.02)  # bodies of 20 ms, quick commits
    txids = await _txids_of_queued_blocks(groups, "then", 0.02)
    assert len(set(txids)) == 6  # every block its own transaction
    assert len(await _effects(store)) == 12


async def test_adaptive_lanes_group_blocks_when_commits_are_dear(store: Store) -> None:
    if store.engine != "postgresql":
        pytest.skip("group commits run on PostgreSQL only (SQLite shares its own commits)")
    await _effects_table(store)
    async with store.transaction() as tx:  # every commit waits 30 ms (a slow disk's flush)
        await tx.execute(
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.03); RETURN NULL; END $$"
        )
        await tx.execute(
            "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON effects "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()"
        )
    groups = CommitGroups(store, lanes=1)
    await _txids_of_queued_blocks(groups, "learn", 0.0)  # quick bodies, 30 ms commits
    txids = await _txids_of_queued_blocks(groups, "then", 0.0)
    assert len(set(txids)) < 6  # blocks waiting behind a commit share the next one
    assert len(await _effects(store)) == 12
