"""Lambda's SQS event source mapping, played by a local process: receive, invoke, delete the rest.

A deployment lets Lambda poll the queue; without Lambda (the demo, the benchmarks, tests, a
container), `poll_once` does what the event source mapping does for one batch: long-poll SQS,
invoke the handler with the SQS event document Lambda would build, and delete every message
the handler did not report in `batchItemFailures`. A handler that raises deletes nothing, so
SQS delivers the whole batch again after its visibility timeout, as Lambda's would.

`poll_once_async` does the same on a running event loop, for a handler's async `invoke` (the
webhook and job workers have one), so several pollers can share one loop.

`python -m seawall.aws.poller` runs the worker function's handler (`AwsRuntime.worker()`, what
`seawall.aws.entry.sqs_handler` builds) in such a loop, configured from the same environment
as the Lambda function; `--until-idle` stops once the queue has nothing ready, in flight or
delayed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from seawall.aws.sqs import SqsMessage, SqsQueue, lambda_sqs_event

__all__ = [
    "AsyncSqsHandler",
    "FunctionContext",
    "SqsHandler",
    "main",
    "poll_once",
    "poll_once_async",
    "queue_arn",
    "run",
]

log = logging.getLogger("seawall.aws")

SqsHandler = Callable[[Mapping[str, Any], Any], Mapping[str, Any]]
"""A Lambda handler for SQS events: `(event, context) -> {"batchItemFailures": [...]}`."""
AsyncSqsHandler = Callable[[Mapping[str, Any], Any], Awaitable[Mapping[str, Any]]]
"""The same handler's coroutine form (`SqsWebhookWorker.invoke`, `SqsJobWorker.invoke`)."""


class FunctionContext:
    """The part of Lambda's context a handler reads: the time left in a `timeout_s` invocation."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self._ends = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this invocation's timeout."""
        return max(0, int((self._ends - time.monotonic()) * 1000))


def queue_arn(queue: SqsQueue) -> str:
    """The queue's ARN (the event records' `eventSourceARN`)."""
    answer = queue.clients.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["QueueArn"])
    return str(answer["Attributes"]["QueueArn"])


def poll_once(
    queue: SqsQueue,
    arn: str,
    handler: SqsHandler,
    *,
    wait_s: int = 0,
    visibility_timeout_s: int | None = None,
    timeout_s: float = 30.0,
) -> int:
    """Receive one batch and invoke `handler` on it; return how many messages it held."""
    messages = queue.receive(wait_s=wait_s, visibility_timeout_s=visibility_timeout_s)
    if not messages:
        return 0
    try:
        answer = handler(lambda_sqs_event(messages, arn), FunctionContext(timeout_s))
    except Exception:
        log.exception("the SQS handler failed on a batch of %d; SQS redelivers it", len(messages))
        return len(messages)
    _acknowledge(queue, messages, answer)
    return len(messages)


async def poll_once_async(
    queue: SqsQueue,
    arn: str,
    invoke: AsyncSqsHandler,
    *,
    wait_s: int = 0,
    timeout_s: float = 30.0,
) -> int:
    """`poll_once` on the running event loop, for a handler's coroutine form."""
    messages = await asyncio.to_thread(queue.receive, wait_s=wait_s)
    if not messages:
        return 0
    try:
        answer = await invoke(lambda_sqs_event(messages, arn), FunctionContext(timeout_s))
    except Exception:
        log.exception("the SQS handler failed on a batch of %d; SQS redelivers it", len(messages))
        return len(messages)
    await asyncio.to_thread(_acknowledge, queue, messages, answer)
    return len(messages)


def _acknowledge(
    queue: SqsQueue, messages: Sequence[SqsMessage], answer: Mapping[str, Any]
) -> None:
    """Delete the messages the handler did not report in `batchItemFailures`."""
    failed = {str(f["itemIdentifier"]) for f in answer.get("batchItemFailures", [])}
    done = [m.receipt for m in messages if m.id not in failed]
    if done:
        queue.delete_many(done)


def _idle(queue: SqsQueue) -> bool:
    stats = queue.stats()
    return stats.ready == 0 and stats.in_flight == 0 and stats.delayed == 0


def run(
    queue: SqsQueue,
    handler: SqsHandler,
    *,
    until_idle: bool = False,
    wait_s: int = 1,
    timeout_s: float = 30.0,
) -> int:
    """Poll and invoke until stopped (or, with `until_idle`, until the queue is idle); return
    the messages handled."""
    arn = queue_arn(queue)
    handled = 0
    while True:
        got = poll_once(queue, arn, handler, wait_s=wait_s, timeout_s=timeout_s)
        handled += got
        if not got and until_idle and _idle(queue):
            return handled


def main(argv: list[str] | None = None) -> int:
    """`python -m seawall.aws.poller [--until-idle]`: the worker function in a polling loop."""
    from seawall.aws.entry import AwsRuntime

    parser = argparse.ArgumentParser(prog="python -m seawall.aws.poller", description=__doc__)
    parser.add_argument("--until-idle", action="store_true", help="stop once the queue is idle")
    parser.add_argument("--timeout", type=float, default=30.0, help="each invocation's timeout")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    runtime = AwsRuntime.from_environment()
    worker = runtime.worker()
    print("polling", runtime.queue.url, flush=True)  # a supervisor waits for this line
    handled = run(runtime.queue, worker, until_idle=args.until_idle, timeout_s=args.timeout)
    print("handled", handled, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
