"""The queue's lean enqueue path for internal callers: pre-encoded payloads inside a transaction."""

from __future__ import annotations

import re

import pytest

from seawall.jobs import InvalidJobError, Queue
from seawall.jobs.queue_rows import new_job_id, new_job_ids
from seawall.store import Store


async def test_encoded_jobs_match_enqueue_many(store: Store) -> None:
    queue = Queue(store, default_max_receives=4)
    async with store.transaction() as tx:
        ids = await queue.enqueue_encoded(
            tx, "hooks", ['{"n":0}', '{"n":1}', '{"n":2}'], max_receives=2
        )
        assert await queue.enqueue_encoded(tx, "hooks", []) == []
    assert len(set(ids)) == 3
    jobs = await queue.claim("hooks", limit=10, visibility_timeout=30)
    assert {job.id: job.payload for job in jobs} == {ids[n]: {"n": n} for n in range(3)}
    assert all((job.max_receives, job.priority, job.receives) == (2, 0, 1) for job in jobs)
    assert all(job.visible_at >= job.enqueued_at for job in jobs)


async def test_encoded_jobs_roll_back_with_the_transaction(store: Store) -> None:
    queue = Queue(store)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await queue.enqueue_encoded(tx, "hooks", ['{"n":0}'])
            raise RuntimeError("abort")
    assert await queue.claim("hooks", limit=10) == []


async def test_encoded_path_still_checks_name_and_receives(store: Store) -> None:
    queue = Queue(store)
    async with store.transaction() as tx:
        with pytest.raises(InvalidJobError):
            await queue.enqueue_encoded(tx, "", ['{"n":0}'])
        with pytest.raises(InvalidJobError):
            await queue.enqueue_encoded(tx, "hooks", ['{"n":0}'], max_receives=0)


def test_batch_ids_have_the_single_id_shape() -> None:
    shape = re.compile(r"[0-9a-f]{32}")
    batch = new_job_ids(1000)
    assert len(set(batch)) == 1000
    assert all(shape.fullmatch(job_id) for job_id in [*batch, new_job_id()])
    assert new_job_ids(0) == []
