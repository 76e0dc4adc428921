"""One home per rule: the last-receive decision, the jittered job backoff, run summaries."""

from __future__ import annotations

from seawall.jobs import Job, Queue, Worker
from seawall.jobs.backoff import job_backoff, retry_delay
from seawall.jobs.model import LAST_RECEIVE_SQL
from seawall.jobs.worker import RunSummary
from seawall.resilience import Constant
from seawall.store import Store, Tx


def _job(receives: int, max_receives: int) -> Job:
    return Job("j", "q", {}, receives, max_receives, 0, "t", 0.0, 0.0)


def test_last_receive_is_decided_by_one_property() -> None:
    assert not _job(1, 3).is_last_receive
    assert not _job(2, 3).is_last_receive
    assert _job(3, 3).is_last_receive
    assert _job(4, 3).is_last_receive
    assert LAST_RECEIVE_SQL == "receives >= max_receives"


def test_job_backoff_is_jittered_capped_and_floored_by_a_hint() -> None:
    backoff = job_backoff(1.0, 8.0, seed=7)
    delays = [retry_delay(backoff, _job(5, 10)) for _ in range(200)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 150  # spread, not one fixed value
    first = [retry_delay(backoff, _job(1, 10)) for _ in range(200)]
    assert max(first) <= 1.0
    assert all(retry_delay(backoff, _job(1, 10), hint=20.0) == 20.0 for _ in range(20))


async def test_run_until_idle_reports_what_it_did(store: Store) -> None:
    queue = Queue(store, default_max_receives=1)
    worker = Worker(store, queue=queue, backoff=Constant(0.0))

    @worker.handler("rules")
    async def handle(job: Job, tx: Tx) -> None:
        if job.payload["n"] < 3:
            raise ValueError("broken")

    await queue.enqueue_many("rules", [{"n": n} for n in range(5)])
    summary = await worker.run_until_idle()
    assert isinstance(summary, RunSummary)
    assert (summary.processed, summary.dead_lettered, summary.retried) == (2, 3, 0)
    assert summary == 2
    assert "dead_lettered=3" in repr(summary)
    assert len(await queue.dead_letters("rules")) == 3
