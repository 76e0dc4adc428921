"""Redrive's choice between SQS's server-side move (StartMessageMoveTask) and the client-side
move: moto does not offer the task, so the fallback runs against it; the task path runs against
an endpoint on 127.0.0.1 that answers GetQueueAttributes and StartMessageMoveTask as SQS's JSON
protocol does (no SQS-compatible server here implements the task)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ClientError

from seawall.aws.clients import AwsClients
from seawall.aws.resources import QueueUrls
from seawall.aws.sqs import SqsQueue, move_task_unsupported


def _queue(aws: AwsClients, resources: QueueUrls) -> SqsQueue:
    return SqsQueue(aws, resources.queue, dead_letter_url=resources.dead_letter_queue)


def test_moto_refuses_the_task_so_redrive_moves_client_side_and_remembers(
    aws: AwsClients, resources: QueueUrls
) -> None:
    queue = _queue(aws, resources)
    for n in range(12):
        aws.sqs.send_message(QueueUrl=resources.dead_letter_queue, MessageBody=json.dumps({"n": n}))

    assert queue.redrive() == 12
    assert queue.move_task is False
    assert aws.calls["sqs.StartMessageMoveTask"] == 1
    assert queue.stats().dead == 0 and queue.stats().ready == 12

    aws.sqs.send_message(QueueUrl=resources.dead_letter_queue, MessageBody="{}")
    assert queue.redrive() == 1
    assert aws.calls["sqs.StartMessageMoveTask"] == 1  # not asked again


def test_a_limited_redrive_moves_client_side_without_asking(
    aws: AwsClients, resources: QueueUrls
) -> None:
    queue = _queue(aws, resources)
    for n in range(3):
        aws.sqs.send_message(QueueUrl=resources.dead_letter_queue, MessageBody=json.dumps({"n": n}))
    assert queue.redrive(limit=2) == 2
    assert aws.calls["sqs.StartMessageMoveTask"] == 0
    assert queue.stats().dead == 1


def test_what_moto_answers_counts_as_unsupported(aws: AwsClients, resources: QueueUrls) -> None:
    arn = aws.sqs.get_queue_attributes(
        QueueUrl=resources.dead_letter_queue, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as raised:
        aws.sqs.start_message_move_task(SourceArn=arn)
    assert move_task_unsupported(raised.value)


def _error(code: str, status: int, message: str = "") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "StartMessageMoveTask")


@pytest.mark.parametrize(
    ("error", "unsupported"),
    [
        (_error("UnsupportedOperation", 400), True),
        (_error("AWS.SimpleQueueService.UnsupportedOperation", 400), True),
        (_error("InvalidAction", 400, "unknown action"), True),
        (_error("UnknownOperationException", 400), True),
        (_error("NotImplemented", 501), True),
        (_error("Whatever", 501), True),
        (_error("500", 500, "<html>Internal Server Error</html>"), True),
        # SQS's own answers are raised: they are not about the task being unavailable.
        (_error("InternalError", 500, "We encountered an internal error"), False),
        (_error("AccessDenied", 403), False),
        (_error("InvalidParameterValue", 400, "Source queue must be a dead-letter queue"), False),
        (_error("RequestThrottled", 400), False),
        (_error("AWS.SimpleQueueService.NonExistentQueue", 400), False),
    ],
)
def test_the_choice_of_fallback(error: ClientError, unsupported: bool) -> None:
    assert move_task_unsupported(error) is unsupported


def test_errors_without_an_answer_are_not_unsupported() -> None:
    assert not move_task_unsupported(ConnectionError("refused"))
    assert not move_task_unsupported(ValueError("x"))


class _TaskEndpoint(BaseHTTPRequestHandler):
    """SQS's JSON protocol for the two operations the server-side move needs."""

    calls: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        target = self.headers.get("X-Amz-Target", "").removeprefix("AmazonSQS.")
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        self.calls.append((target, request))
        if target == "GetQueueAttributes":
            name = request["QueueUrl"].rsplit("/", 1)[-1]
            answer: dict[str, Any] = {
                "Attributes": {
                    "QueueArn": f"arn:aws:sqs:us-east-1:123456789012:{name}",
                    "ApproximateNumberOfMessages": "7",
                }
            }
        elif target == "StartMessageMoveTask":
            answer = {"TaskHandle": "handle-1"}
        else:
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.end_headers()
            self.wfile.write(b'{"__type":"InvalidAction","message":"not here"}')
            return
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def task_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[Any]]]:
    """The URL of the endpoint and the (operation, request) pairs it received."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    calls: list[Any] = []
    handler = type("Handler", (_TaskEndpoint,), {"calls": calls})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()


def test_an_endpoint_with_the_task_moves_server_side(
    task_endpoint: tuple[str, list[Any]],
) -> None:
    url, calls = task_endpoint
    clients = AwsClients(region="us-east-1", endpoint_url=url)
    queue = SqsQueue(clients, f"{url}/123456789012/q", dead_letter_url=f"{url}/123456789012/q-dlq")

    assert queue.redrive(rate_per_s=2.5) == 7
    assert queue.move_task is True
    [task] = [request for operation, request in calls if operation == "StartMessageMoveTask"]
    assert task == {
        "SourceArn": "arn:aws:sqs:us-east-1:123456789012:q-dlq",
        "DestinationArn": "arn:aws:sqs:us-east-1:123456789012:q",
        "MaxNumberOfMessagesPerSecond": 3,
    }
    assert not [op for op, _ in calls if op in {"ReceiveMessage", "SendMessage"}]
