"""Leases taken ahead count no receive; `start` counts it as the handler starts (both engines)."""

from __future__ import annotations

from seawall.jobs import Queue
from seawall.store import Store
from seawall.testing import FakeClock


async def test_a_lease_ahead_counts_its_receive_only_at_start(
    store: Store, clock: FakeClock
) -> None:
    queue = Queue(store, default_max_receives=1)
    ids = await queue.enqueue_many("q", [{"n": n} for n in range(3)])
    leased, dead = await queue.claim_counted("q", limit=3, count_receive=False)
    assert dead == 0 and all(job.receives == 0 for job in leased)
    by_id = {job.id: job for job in leased}
    started = await queue.start([by_id[ids[0] or ""]])
    assert [(job.id, job.receives) for job in started] == [(ids[0], 1)]
    stored = await queue.get_job(ids[1] or "")
    assert stored is not None and stored.receives == 0, "the others are leased, uncounted"

    # The lease runs out: the unstarted jobs come back with their one attempt intact, the
    # started one (its receive used, no ack) goes to the dead-letter queue at its next claim.
    clock.advance(31)
    again, dead = await queue.claim_counted("q", limit=3, count_receive=False)
    assert dead == 1 and sorted(job.id for job in again) == sorted([ids[1], ids[2]])
    assert [letter.id for letter in await queue.dead_letters("q")] == [ids[0]]


async def test_start_skips_jobs_whose_lease_was_lost(store: Store, clock: FakeClock) -> None:
    queue = Queue(store)
    await queue.enqueue("q", {"n": 1})
    [mine] = await queue.claim("q", visibility_timeout=5, limit=1)
    clock.advance(6)
    [theirs] = await queue.claim("q", visibility_timeout=5, limit=1)
    assert await queue.start([mine]) == []
    [started] = await queue.start([theirs])
    assert started.receives == theirs.receives + 1


async def test_releasing_leases_taken_ahead_leaves_receives_alone(store: Store) -> None:
    queue = Queue(store)
    await queue.enqueue_many("q", [{"n": n} for n in range(2)])
    leased, _ = await queue.claim_counted("q", limit=2, count_receive=False)
    [started] = await queue.start(leased[:1])
    assert await queue.release(leased[1:], counted=False) == 1
    back = await queue.claim("q", limit=2)
    assert [job.receives for job in back] == [1], "released with no receive, claimed once now"
    assert (await queue.get_job(started.id)).receives == 1  # type: ignore[union-attr]


async def test_start_gives_a_job_leased_ahead_its_whole_lease(
    store: Store, clock: FakeClock
) -> None:
    queue = Queue(store)
    await queue.enqueue("q", {"n": 1})
    [leased], _ = await queue.claim_counted("q", visibility_timeout=10, count_receive=False)
    clock.advance(6)
    [started] = await queue.start([leased], visibility_timeout=10)
    assert started.visible_at == clock.time() + 10
    stored = await queue.get_job(started.id)
    assert stored is not None and stored.visible_at == started.visible_at
    clock.advance(9)  # past the lease taken ahead, within the one counted from the start
    assert await queue.claim("q", visibility_timeout=10) == []
