"""A claim still out when the worker is told to stop: its jobs are released, receives unspent."""

from __future__ import annotations

import asyncio

from seawall.jobs import Job, Queue, Worker
from seawall.store import Store


class _GatedQueue(Queue):
    """A queue whose second claim waits at a gate after it has leased its jobs."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.claims = 0
        self.out = asyncio.Event()
        self.gate = asyncio.Event()

    async def claim_counted(
        self,
        queue_name: str,
        *,
        limit: int = 1,
        visibility_timeout: float = 30.0,
        count_receive: bool = True,
    ) -> tuple[list[Job], int]:
        self.claims += 1
        gated = self.claims == 2
        result = await super().claim_counted(
            queue_name,
            limit=limit,
            visibility_timeout=visibility_timeout,
            count_receive=count_receive,
        )
        if gated:
            self.out.set()
            await self.gate.wait()
        return result


async def test_a_claim_out_at_stop_is_released_without_spending_receives(store: Store) -> None:
    queue = _GatedQueue(store)
    worker = Worker(store, queue=queue, concurrency=2, batch_size=2, grace_period=2)
    ids = await queue.enqueue_many("q", [{"n": n} for n in range(6)])
    ran: list[str] = []

    @worker.handler("q", transactional=False)
    async def handle(job: Job) -> None:
        ran.append(job.id)
        if len(ran) == 1:
            await queue.out.wait()  # the next claim was sent while this job runs
            worker.request_stop()
            queue.gate.set()

    await asyncio.wait_for(worker.run(), timeout=5)
    assert queue.claims >= 2
    assert 1 <= len(ran) <= 2 and worker.processed == len(ran)
    rest = [job_id for job_id in ids if job_id not in ran]
    for job_id in rest:
        job = await queue.get_job(job_id or "")
        assert job is not None and job.state == "pending" and job.receives == 0
        assert job.lease_token is None, "released, not left to its lease"
    again = await queue.claim("q", limit=6)
    assert sorted(job.id for job in again) == sorted(rest)
