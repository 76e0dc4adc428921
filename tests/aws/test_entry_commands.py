"""The data-sync entry point as deployed: the command table's DynamoDB stream, configured from
the environment, against a real moto server."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.aws.lambda_events import FakeLambdaContext
from tests.commands.helpers import CTX, order

from seawall.aws import entry
from seawall.aws.clients import AwsClients
from seawall.aws.commands import DynamoCommandService
from seawall.aws.resources import AwsNames
from seawall.aws.transact import from_item
from seawall.config import ConfigError

MODULE = "order"
ENV = "test"


@pytest.fixture
def deployed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws: AwsClients,
    aws_endpoint: str,
    names: AwsNames,
) -> Iterator[dict[str, str]]:
    """The command tables (stream on), the status topic with a subscribed queue, a data-sync
    handlers module, and the function's environment; what was made, by name."""
    service = DynamoCommandService(aws, module=MODULE, env=ENV, app=names.prefix)
    _run(service.create_tables())
    stream_arn = aws.dynamodb.update_table(
        TableName=service.tables.command,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    topic = aws.sns.create_topic(Name=f"{names.prefix}-command-status")["TopicArn"]
    queue = aws.sqs.create_queue(QueueName=f"{names.prefix}-status")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    module = f"sync_handlers_{names.prefix.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            class Totals:
                name = "totals"

                async def up(self, cmd, tx):
                    tx.put("{service.tables.data}", {{
                        "pk": "TOTAL#" + cmd.tenant_code,
                        "sk": cmd.sk,
                        "amount": cmd.attributes["amount"],
                    }})

                async def down(self, cmd):
                    pass

            def register(service):
                service.register_data_sync_handler(Totals())
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)  # boto3 reads it: the local endpoint
    monkeypatch.setenv("NODE_ENV", ENV)
    monkeypatch.setenv("APP_NAME", names.prefix)
    monkeypatch.setenv("SEAWALL_COMMAND_MODULE", MODULE)
    monkeypatch.setenv("SEAWALL_COMMAND_TOPIC_ARN", topic)
    monkeypatch.setenv("SEAWALL_DATA_SYNC_HANDLERS", module)
    entry.reset()
    yield {"stream": stream_arn, "queue": queue, "command": service.tables.command}
    entry.reset()


def _run(awaitable: Any) -> Any:
    return asyncio.run(awaitable)


def stream_event(aws: AwsClients, table: str, stream_arn: str) -> dict[str, Any]:
    """A DynamoDB stream event as Lambda delivers it: one INSERT per stored command, with its
    keys and new image in attribute-value form."""
    records = []
    items = sorted(aws.dynamodb.scan(TableName=table)["Items"], key=lambda i: i["sk"]["S"])
    for number, item in enumerate(items, start=1):
        records.append(
            {
                "eventID": f"{number:032x}",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1700000000,
                    "Keys": {"pk": item["pk"], "sk": item["sk"]},
                    "NewImage": item,
                    "SequenceNumber": f"{number}00000000000000000001",
                    "SizeBytes": len(json.dumps(item)),
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": stream_arn,
            }
        )
    return {"Records": records}


def received(aws: AwsClients, url: str, count: int) -> list[dict[str, Any]]:
    """The SNS messages of `count` notifications from the subscribed queue."""
    got: list[dict[str, Any]] = []
    for _ in range(10):
        answer = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        got += [json.loads(json.loads(m["Body"])["Message"]) for m in answer.get("Messages", [])]
        if len(got) >= count:
            break
    return got


def test_the_stream_handler_syncs_async_commands_and_notifies(
    deployed: dict[str, str], aws: AwsClients, names: AwsNames
) -> None:
    publisher = DynamoCommandService(aws, module=MODULE, env=ENV, app=names.prefix)
    queued = _run(publisher.publish_async(order(0), invoke_context=CTX))
    assert queued is not None and queued.status == "publish_async:STARTED"
    event = stream_event(aws, deployed["command"], deployed["stream"])

    assert entry.command_stream_handler(event, FakeLambdaContext()) == {"synced": 1}

    data = publisher.tables.data
    item = aws.dynamodb.get_item(TableName=data, Key={"pk": {"S": "ORDER#t1"}, "sk": {"S": "o-1"}})
    synced = from_item(item["Item"])
    assert (synced["version"], synced["attributes"]) == (1, {"amount": 100})
    total = aws.dynamodb.get_item(
        TableName=data, Key={"pk": {"S": "TOTAL#t1"}, "sk": {"S": "o-1@1"}}
    )
    assert from_item(total["Item"])["amount"] == 100  # the registered handler's write
    command = _run(publisher.get_command("ORDER#t1", "o-1@1"))
    assert command is not None and command.status == "finish:FINISHED"
    [note] = received(aws, deployed["queue"], 1)
    assert (note["action"], note["sk"], note["content"]["status"]) == (
        "command-status",
        "o-1@1",
        "finish:FINISHED",
    )
    assert note["table"] == deployed["command"]

    # the same batch again (Lambda's retry): nothing more to do, on the kept service
    assert entry.command_stream_handler(event, FakeLambdaContext()) == {"synced": 0}


def test_a_failed_sync_raises_so_lambda_retries_the_batch(
    deployed: dict[str, str], aws: AwsClients, names: AwsNames
) -> None:
    publisher = DynamoCommandService(aws, module=MODULE, env=ENV, app=names.prefix)
    _run(publisher.publish_async(order(0), invoke_context=CTX))
    event = stream_event(aws, deployed["command"], deployed["stream"])
    # the handler reads attributes["amount"]; a command without it fails in `up`
    aws.dynamodb.update_item(
        TableName=deployed["command"],
        Key={"pk": {"S": "ORDER#t1"}, "sk": {"S": "o-1@1"}},
        UpdateExpression="REMOVE attributes.amount",
    )
    with pytest.raises(KeyError):
        entry.command_stream_handler(event, FakeLambdaContext())
    command = _run(publisher.get_command("ORDER#t1", "o-1@1"))
    assert command is not None and command.status.endswith(":FAILED")


def test_a_missing_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEAWALL_COMMAND_MODULE", raising=False)
    entry.reset()
    with pytest.raises(ConfigError, match="SEAWALL_COMMAND_MODULE"):
        entry.command_stream_handler({"Records": []}, None)
    entry.reset()


def test_a_registration_module_that_does_not_import_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NODE_ENV", ENV)
    monkeypatch.setenv("APP_NAME", "app")
    monkeypatch.setenv("SEAWALL_COMMAND_MODULE", MODULE)
    monkeypatch.setenv("SEAWALL_DATA_SYNC_HANDLERS", "no_such_sync_module")
    entry.reset()
    with pytest.raises(ConfigError, match=r"SEAWALL_DATA_SYNC_HANDLERS.*no_such_sync_module"):
        entry.command_stream_handler({"Records": []}, None)
    entry.reset()
