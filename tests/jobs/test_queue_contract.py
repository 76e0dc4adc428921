"""The queue contract on SQLite and PostgreSQL, with a fake clock driving leases and delays."""

from __future__ import annotations

import pytest

from seawall.jobs import InvalidJobError, Queue
from seawall.store import Store
from seawall.testing import FakeClock


@pytest.fixture
def queue(store: Store) -> Queue:
    """A queue with a small receive limit so DLQ paths are short."""
    return Queue(store, default_max_receives=3)


async def test_enqueue_claim_ack(queue: Queue) -> None:
    ids = [await queue.enqueue("mail", {"n": n}) for n in range(3)]
    assert all(ids) and len(set(ids)) == 3
    jobs = await queue.claim("mail", limit=2, visibility_timeout=30)
    assert [job.payload for job in jobs] == [{"n": 0}, {"n": 1}]
    assert all(job.receives == 1 and job.lease_token for job in jobs)
    assert await queue.ack(jobs[0]) is True
    assert await queue.ack(jobs[0]) is False  # already done: nothing changes
    done = await queue.get_job(jobs[0].id)
    assert done is not None and done.state == "done" and done.finished_at is not None
    (stats,) = await queue.stats()
    assert (stats.queue, stats.ready, stats.in_flight, stats.done) == ("mail", 1, 1, 1)
    assert await queue.claim("other", limit=5) == []


async def test_lease_expiry_redelivers_and_counts_receives(queue: Queue, clock: FakeClock) -> None:
    job_id = await queue.enqueue("q", {"x": 1})
    (first,) = await queue.claim("q", limit=5, visibility_timeout=10)
    clock.advance(9)
    assert await queue.claim("q", limit=5, visibility_timeout=10) == []
    clock.advance(2)
    (second,) = await queue.claim("q", limit=5, visibility_timeout=10)
    assert second.id == first.id == job_id
    assert second.receives == 2 and second.lease_token != first.lease_token
    # The stale worker can neither ack, nack nor extend the job someone else holds now.
    assert await queue.ack(first) is False
    assert await queue.nack(first, delay=0, error="late") is False
    assert await queue.extend(first, 60) is False
    current = await queue.get_job(job_id)
    assert current is not None and current.state == "pending" and current.errors == []
    assert current.lease_token == second.lease_token
    assert await queue.ack(second) is True


async def test_dead_letter_after_max_receives_keeps_error_history(
    queue: Queue, clock: FakeClock
) -> None:
    job_id = await queue.enqueue("pay", {"order": 7}, max_receives=2)
    assert job_id is not None
    (job,) = await queue.claim("pay", limit=1, visibility_timeout=5)
    assert await queue.nack(job, delay=0, error="ValueError: boom", tb="Traceback ...") is True
    (job,) = await queue.claim("pay", limit=1, visibility_timeout=5)
    assert job.receives == 2 and job.errors[0]["error"] == "ValueError: boom"
    clock.advance(6)  # the worker died holding its second receive
    assert await queue.claim("pay", limit=1, visibility_timeout=5) == []
    letter = await queue.dead_letter(job_id)
    assert letter is not None and letter.queue == "pay" and letter.payload == {"order": 7}
    assert letter.receives == 2 and letter.reason == "receive limit reached"
    assert letter.errors[0]["error"] == "ValueError: boom"
    assert "receive limit" in letter.errors[-1]["error"]
    assert [d.id for d in await queue.dead_letters("pay")] == [job_id]
    assert await queue.dead_letters("other") == []
    (stats,) = await queue.stats()
    assert stats.dead == 1 and stats.ready == 0


async def test_nack_on_last_receive_dead_letters_at_once(queue: Queue) -> None:
    job_id = await queue.enqueue("q", {}, max_receives=1)
    (job,) = await queue.claim("q", limit=1, visibility_timeout=5)
    assert await queue.nack(job, delay=100, error="RuntimeError: down", tb="tb") is True
    letter = await queue.dead_letter(job_id or "")
    assert letter is not None and "receive 1 of 1" in letter.reason
    assert letter.errors[-1]["error"] == "RuntimeError: down"


async def test_error_history_is_bounded(store: Store) -> None:
    queue = Queue(store, default_max_receives=10, max_errors=3)
    await queue.enqueue("q", {})
    for attempt in range(5):
        (job,) = await queue.claim("q", limit=1, visibility_timeout=5)
        await queue.nack(job, delay=0, error=f"e{attempt}", tb="x" * 10_000)
    found = await queue.get_job(job.id)
    assert found is not None
    assert [e["error"] for e in found.errors] == ["e2", "e3", "e4"]
    assert all(len(e["traceback"]) <= 4003 for e in found.errors)


async def test_redrive_by_id_queue_and_filter_resets_receives(
    queue: Queue, clock: FakeClock
) -> None:
    async def kill(name: str, error: str) -> str:
        job_id = await queue.enqueue(name, {"name": name}, max_receives=1)
        (job,) = await queue.claim(name, limit=1, visibility_timeout=5)
        await queue.nack(job, delay=0, error=error)
        assert job_id is not None
        return job_id

    a = await kill("a", "TimeoutError: slow")
    b = await kill("b", "KeyError: x")
    c = await kill("b", "TimeoutError: again")
    assert await queue.redrive(ids=[a]) == 1
    assert await queue.redrive(ids=[a]) == 0  # no longer dead
    (job,) = await queue.claim("a", limit=1, visibility_timeout=5)
    assert job.id == a and job.receives == 1 and job.errors[-1]["error"] == "TimeoutError: slow"
    assert await queue.redrive(queue_name="b", error_contains="Timeout") == 1
    (job,) = await queue.claim("b", limit=5, visibility_timeout=5)
    assert job.id == c
    assert await queue.redrive(queue_name="b") == 1
    assert (await queue.claim("b", limit=5, visibility_timeout=5))[0].id == b


async def test_redrive_rate_limit_spaces_visibility(queue: Queue, clock: FakeClock) -> None:
    for n in range(4):
        await queue.enqueue("r", {"n": n}, max_receives=1)
    for job in await queue.claim("r", limit=4, visibility_timeout=5):
        await queue.nack(job, delay=0, error="boom")
    assert await queue.redrive(queue_name="r", rate_per_s=2.0) == 4
    assert len(await queue.claim("r", limit=10, visibility_timeout=60)) == 1
    clock.advance(0.5)
    assert len(await queue.claim("r", limit=10, visibility_timeout=60)) == 1
    clock.advance(1.0)
    assert len(await queue.claim("r", limit=10, visibility_timeout=60)) == 2
    with pytest.raises(InvalidJobError):
        await queue.redrive(rate_per_s=0)


async def test_purge_dead_letters(queue: Queue) -> None:
    ids = [await queue.enqueue(name, {}, max_receives=1) for name in ("a", "a", "b")]
    for name in ("a", "b"):
        for job in await queue.claim(name, limit=5, visibility_timeout=5):
            await queue.nack(job, delay=0, error="boom")
    assert await queue.purge_dead_letters(ids=[ids[0] or ""]) == 1
    assert await queue.purge_dead_letters(queue_name="b") == 1
    assert [d.id for d in await queue.dead_letters()] == [ids[1]]
    assert await queue.purge_dead_letters() == 1
    assert await queue.dead_letters() == []


async def test_dedup_window(queue: Queue, clock: FakeClock) -> None:
    first = await queue.enqueue("q", {"v": 1}, dedup_key="evt_1")
    assert first is not None
    assert await queue.enqueue("q", {"v": 2}, dedup_key="evt_1") is None
    assert await queue.enqueue("other", {"v": 3}, dedup_key="evt_1") is not None
    clock.advance(299)
    assert await queue.enqueue("q", {"v": 4}, dedup_key="evt_1") is None
    clock.advance(2)
    again = await queue.enqueue("q", {"v": 5}, dedup_key="evt_1")
    assert again is not None and again != first
    batch = await queue.enqueue_many(
        "q", [{"i": 0}, {"i": 1}, {"i": 2}], dedup_keys=["k", "k", None]
    )
    assert batch[0] is not None and batch[1] is None and batch[2] is not None
    payloads = [job.payload for job in await queue.claim("q", limit=10, visibility_timeout=5)]
    assert payloads == [{"v": 1}, {"v": 5}, {"i": 0}, {"i": 2}]


async def test_delay_and_priority(queue: Queue, clock: FakeClock) -> None:
    await queue.enqueue("q", {"name": "later"}, delay=60)
    await queue.enqueue("q", {"name": "low"}, priority=-1)
    await queue.enqueue("q", {"name": "normal"})
    await queue.enqueue("q", {"name": "urgent"}, priority=10)
    (stats,) = await queue.stats()
    assert (stats.ready, stats.delayed) == (3, 1)
    order = [j.payload["name"] for j in await queue.claim("q", limit=10, visibility_timeout=600)]
    assert order == ["urgent", "normal", "low"]
    clock.advance(59)
    assert await queue.claim("q", limit=10, visibility_timeout=600) == []
    clock.advance(1)
    (later,) = await queue.claim("q", limit=10, visibility_timeout=600)
    assert later.payload == {"name": "later"}


async def test_nack_delay_and_extend(queue: Queue, clock: FakeClock) -> None:
    await queue.enqueue("q", {})
    (job,) = await queue.claim("q", limit=1, visibility_timeout=10)
    assert await queue.extend(job, 100) is True
    clock.advance(50)
    assert await queue.claim("q", limit=1, visibility_timeout=10) == []
    assert await queue.nack(job, delay=30, error=None) is True
    (stats,) = await queue.stats()
    assert (stats.delayed, stats.in_flight, stats.ready) == (1, 0, 0)
    clock.advance(30)
    (again,) = await queue.claim("q", limit=1, visibility_timeout=10)
    assert again.receives == 2 and again.errors == []


async def test_release_uncounts_the_receive(queue: Queue) -> None:
    await queue.enqueue_many("q", [{"i": i} for i in range(3)])
    jobs = await queue.claim("q", limit=3, visibility_timeout=60)
    assert await queue.release(jobs[1:]) == 2
    again = await queue.claim("q", limit=3, visibility_timeout=60)
    assert sorted(j.receives for j in again) == [1, 1]


async def test_ack_many_is_lease_guarded(queue: Queue, clock: FakeClock) -> None:
    await queue.enqueue_many("q", [{"i": i} for i in range(1200)])
    first = await queue.claim("q", limit=600, visibility_timeout=10)
    second = await queue.claim("q", limit=600, visibility_timeout=10)
    clock.advance(11)
    stolen = await queue.claim("q", limit=100, visibility_timeout=10)
    assert await queue.ack_many(first + second) == 1100
    assert await queue.ack_many(stolen) == 100
    (stats,) = await queue.stats()
    assert stats.done == 1200


async def test_transactional_enqueue_rolls_back_with_the_caller(store: Store, queue: Queue) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE orders (id TEXT PRIMARY KEY)")
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO orders (id) VALUES ('o1')")
            assert await queue.enqueue("ship", {"order": "o1"}, tx=tx, dedup_key="o1")
            raise RuntimeError("payment declined")
    assert await queue.stats() == []
    async with store.transaction() as tx:
        await tx.execute("INSERT INTO orders (id) VALUES ('o2')")
        await queue.enqueue_many("ship", [{"order": "o2"}], tx=tx, dedup_keys=["o1"])
    (job,) = await queue.claim("ship", limit=5, visibility_timeout=5)
    assert job.payload == {"order": "o2"} and job.dedup_key == "o1"


async def test_ack_in_a_transaction_with_a_lost_lease_rolls_back_effects(
    store: Store, queue: Queue, clock: FakeClock
) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (job_id TEXT PRIMARY KEY)")
    await queue.enqueue("q", {})
    (stale,) = await queue.claim("q", limit=1, visibility_timeout=5)
    clock.advance(6)
    (fresh,) = await queue.claim("q", limit=1, visibility_timeout=5)
    with pytest.raises(LookupError):
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO effects (job_id) VALUES (?)", (stale.id,))
            if not await queue.ack(stale, tx=tx):
                raise LookupError("lease lost")
    async with store.read() as tx:
        assert await tx.fetchval("SELECT COUNT(*) FROM effects") == 0
    assert await queue.ack(fresh) is True


async def test_cleanup_removes_old_finished_jobs_only(queue: Queue, clock: FakeClock) -> None:
    await queue.enqueue_many("q", [{"i": i} for i in range(3)])
    await queue.enqueue("q", {"dead": True}, max_receives=1, dedup_key="d")
    jobs = await queue.claim("q", limit=4, visibility_timeout=5)
    await queue.ack_many(jobs[:3])
    await queue.nack(jobs[3], delay=0, error="x")
    clock.advance(100)
    await queue.enqueue("q", {"fresh": True})
    assert await queue.cleanup(older_than_s=200) == 0
    assert await queue.cleanup(older_than_s=50) == 3
    (stats,) = await queue.stats()
    assert (stats.done, stats.dead, stats.ready) == (0, 1, 1)
    clock.advance(300)
    await queue.cleanup(older_than_s=50)
    assert await queue.enqueue("q", {}, dedup_key="d") is not None


async def test_stats_age_and_in_flight(queue: Queue, clock: FakeClock) -> None:
    await queue.enqueue("a", {})
    clock.advance(30)
    await queue.enqueue("a", {})
    await queue.enqueue("b", {})
    await queue.claim("b", limit=1, visibility_timeout=60)
    stats = {s.queue: s for s in await queue.stats()}
    assert stats["a"].ready == 2 and stats["a"].oldest_ready_age_s == pytest.approx(30)
    assert stats["b"].in_flight == 1 and stats["b"].oldest_ready_age_s is None


async def test_bad_input_gets_named_errors(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match="dict"):
        await queue.enqueue("q", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(InvalidJobError, match="JSON"):
        await queue.enqueue("q", {"when": object()})
    with pytest.raises(InvalidJobError, match="queue name"):
        await queue.enqueue("", {})
    with pytest.raises(InvalidJobError, match="delay"):
        await queue.enqueue("q", {}, delay=-1)
    with pytest.raises(InvalidJobError, match="max_receives"):
        await queue.enqueue("q", {}, max_receives=0)
    with pytest.raises(InvalidJobError, match="limit"):
        await queue.claim("q", limit=0)
    await queue.enqueue("q", {})
    (job,) = await queue.claim("q", limit=1)
    with pytest.raises(InvalidJobError, match="lease"):
        from dataclasses import replace

        await queue.ack(replace(job, lease_token=None))
    assert await queue.stats() != []


async def test_concurrent_enqueues_share_commits_and_keep_dedup(queue: Queue) -> None:
    import asyncio

    plain = await asyncio.gather(*(queue.enqueue("c", {"i": i}) for i in range(40)))
    keyed = await asyncio.gather(
        *(queue.enqueue("c", {"k": i}, dedup_key="same") for i in range(10))
    )
    assert len(set(plain)) == 40 and None not in plain
    assert sum(1 for job_id in keyed if job_id is not None) == 1
    (stats,) = await queue.stats()
    assert stats.ready == 41
    with pytest.raises(InvalidJobError):
        await asyncio.gather(queue.enqueue("c", {"bad": float("nan")}), queue.enqueue("c", {}))
