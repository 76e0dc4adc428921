"""The Lambda entry points as deployed: configured from the environment and a bundled TOML file."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.aws.lambda_events import FakeLambdaContext, http_v2, sqs_event
from tests.webhooks.support import event_body, guide_headers

from seawall.aws import entry
from seawall.aws.clients import AwsClients
from seawall.aws.resources import AwsNames, QueueUrls
from seawall.aws.sqs import SqsQueue


@pytest.fixture
def deployed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws: AwsClients,
    aws_endpoint: str,
    names: AwsNames,
    resources: QueueUrls,
) -> Iterator[Path]:
    aws.client("ssm").put_parameter(
        Name=f"/{names.prefix}/secret", Value="first-secret", Type="SecureString"
    )
    module = f"entry_handlers_{names.prefix.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            from seawall.webhooks import on

            @on("payment.completed", source="{names.prefix}")
            async def record(event, tx):
                tx.put("{names.idempotency_table}", {{"id": "effect:" + event.id}})
            """
        )
    )
    (tmp_path / "seawall.toml").write_text(
        textwrap.dedent(
            f"""
            [[webhooks]]
            source = "{names.prefix}"
            path = "/webhooks/{names.prefix}"
            secrets = ["ssm:/{names.prefix}/secret"]
            handlers = "{module}"
            """
        )
    )
    monkeypatch.setenv("SEAWALL_CONFIG", str(tmp_path / "seawall.toml"))
    monkeypatch.setenv("SEAWALL_AWS_PREFIX", names.prefix)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)  # boto3 reads it: the local endpoint
    entry.reset()
    yield tmp_path
    entry.reset()


def _deliver(names: AwsNames, event_id: str, secret: str) -> dict[str, object]:
    body = event_body(event_id)
    event = http_v2(f"/webhooks/{names.prefix}", body, guide_headers(body, secret=secret))
    return entry.webhook_handler(event, FakeLambdaContext())


def test_receive_then_work_through_the_entry_points(
    deployed: Path, aws: AwsClients, names: AwsNames, resources: QueueUrls
) -> None:
    answer = _deliver(names, "evt_1", "first-secret")
    assert answer["statusCode"] == 200, answer
    queue = SqsQueue(aws, resources.queue)
    messages = queue.receive(wait_s=0)
    result = entry.sqs_handler(sqs_event(messages, resources.queue_arn), FakeLambdaContext())
    assert result == {"batchItemFailures": []}
    item = aws.dynamodb.get_item(
        TableName=names.idempotency_table, Key={"id": {"S": "effect:evt_1"}}
    )
    assert "Item" in item


def test_a_rotated_secret_is_picked_up_at_the_first_delivery_signed_with_it(
    deployed: Path, aws: AwsClients, names: AwsNames
) -> None:
    assert _deliver(names, "evt_a", "first-secret")["statusCode"] == 200
    aws.client("ssm").put_parameter(
        Name=f"/{names.prefix}/secret", Value="second-secret", Type="SecureString", Overwrite=True
    )
    answer = _deliver(names, "evt_b", "second-secret")
    assert answer["statusCode"] == 200, answer
    forged = _deliver(names, "evt_c", "not-the-secret")
    assert forged["statusCode"] == 400
    assert json.loads(str(forged["body"]))["reason"] == "bad_signature"


def test_a_missing_prefix_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEAWALL_AWS_PREFIX", raising=False)
    entry.reset()
    with pytest.raises(Exception, match="SEAWALL_AWS_PREFIX"):
        entry.webhook_handler({}, None)
