"""The deployment templates: template.yaml (SAM) lints clean, and it and serverless.yml keep
the guide's settings and declare the same queues, tables and topic under seawall's names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from seawall.aws.resources import AwsNames
from seawall.commands.tables import CommandTables

cfnlint_api = pytest.importorskip("cfnlint.api")

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / "template.yaml"
SLS = ROOT / "serverless.yml"

# The deployment both templates are resolved to before their names are compared.
PREFIX, ENV, APP, MODULE = "dev-myapp", "dev", "myapp", "payment"
RECEIVER_HANDLER = "seawall.aws.entry.webhook_handler"
WORKER_HANDLER = "seawall.aws.entry.sqs_handler"
SYNC_HANDLER = "seawall.aws.entry.command_stream_handler"
SYNC_FAILURES = "CommandSyncFailureQueue"
VISIBILITY_TIMEOUT = 60
MAX_RECEIVES = 3
LINT_REGIONS = ["us-east-1", "eu-west-1"]


class _CfnLoader(yaml.SafeLoader):
    """A safe loader that reads CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...)."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_tag)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    assert isinstance(data, dict)
    return data


def _sam_text(value: Any) -> str:
    """A SAM string or !Sub with this test's parameter values."""
    if isinstance(value, dict):
        (fn, value), *_ = value.items()
        assert fn == "Fn::Sub", fn
    params = {"Prefix": PREFIX, "Env": ENV, "App": APP, "Module": MODULE}
    return re.sub(r"\$\{(\w+)\}", lambda m: params.get(m[1], m[0]), str(value))


def _sls_params() -> dict[str, str]:
    """serverless.yml's default params, for the stage `dev`."""
    defaults = _load(SLS)["params"]["default"]
    return {k: str(v).replace("${sls:stage}", "dev") for k, v in defaults.items()}


def _sls_text(value: Any) -> str:
    """A serverless.yml string with its default ${param:...} values (stage `dev`)."""
    params = _sls_params()
    return re.sub(r"\$\{param:(\w+)\}", lambda m: params[m[1]], str(value))


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return _load(SAM)


@pytest.fixture(scope="module")
def sls() -> dict[str, Any]:
    return _load(SLS)


def _by_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _queues(resources: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(main queue, dead-letter queue) properties: the main one is the one with a redrive."""
    queues = [
        r["Properties"]
        for name, r in _by_type(resources, "AWS::SQS::Queue").items()
        if name != SYNC_FAILURES
    ]
    assert len(queues) == 2
    main = [q for q in queues if "RedrivePolicy" in q]
    dead = [q for q in queues if "RedrivePolicy" not in q]
    assert len(main) == len(dead) == 1
    return main[0], dead[0]


def _lint(template: dict[str, Any]) -> list[str]:
    config = cfnlint_api.ManualArgs(regions=LINT_REGIONS, include_checks=["I"])
    matches = cfnlint_api.lint(json.dumps(template), config=config)
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches]


def test_sam_template_lints_clean() -> None:
    # Errors, warnings and informational findings alike: none is filtered out.
    template = SAM.read_text(encoding="utf-8")
    matches = cfnlint_api.lint(
        template, config=cfnlint_api.ManualArgs(regions=LINT_REGIONS, include_checks=["I"])
    )
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_serverless_resources_lint_clean(sls: dict[str, Any]) -> None:
    # The CloudFormation block alone (functions, their event source mappings and the HTTP API
    # are the framework's to generate, and its outputs name them), with params resolved.
    resources = json.loads(_sls_text(json.dumps(sls["resources"]["Resources"])))
    assert "${" not in json.dumps(resources).replace("${AWS::", "")
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    assert _lint(template) == []


def test_sam_functions(sam: dict[str, Any]) -> None:
    functions = _by_type(sam["Resources"], "AWS::Serverless::Function")
    handlers = {f["Properties"]["Handler"]: f["Properties"] for f in functions.values()}
    assert set(handlers) == {RECEIVER_HANDLER, WORKER_HANDLER, SYNC_HANDLER}
    runtime = sam["Globals"]["Function"]["Runtime"]
    assert runtime in {"python3.11", "python3.12"}

    receiver_events = list(handlers[RECEIVER_HANDLER]["Events"].values())
    assert [(e["Type"], e["Properties"]["Method"]) for e in receiver_events] == [
        ("HttpApi", "POST")
    ]

    worker = handlers[WORKER_HANDLER]
    (event,) = worker["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumBatchingWindowInSeconds" in event["Properties"]
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    assert worker["Timeout"] < VISIBILITY_TIMEOUT

    env = sam["Globals"]["Function"]["Environment"]["Variables"]
    assert env["SEAWALL_MAX_RECEIVES"] == str(MAX_RECEIVES)
    assert env["SEAWALL_AWS_PREFIX"] == {"Ref": "Prefix"}
    assert env["SEAWALL_CONFIG"] == "seawall.toml"
    assert int(env["SEAWALL_OUTBOUND_MARGIN_MS"]) < worker["Timeout"] * 1000
    assert set(sam["Parameters"]) >= {"Prefix", "Env", "App", "Module", "WebhookSecretParameter"}


def test_serverless_functions(sls: dict[str, Any]) -> None:
    assert sls["frameworkVersion"] == "3"
    assert sls["provider"]["runtime"] in {"python3.11", "python3.12"}
    functions = {f["handler"]: f for f in sls["functions"].values()}
    assert set(functions) == {RECEIVER_HANDLER, WORKER_HANDLER, SYNC_HANDLER}
    (http,) = functions[RECEIVER_HANDLER]["events"]
    assert http["httpApi"]["method"] == "POST"

    worker = functions[WORKER_HANDLER]
    (event,) = worker["events"]
    assert event["sqs"]["batchSize"] == 10
    assert event["sqs"]["functionResponseType"] == "ReportBatchItemFailures"
    assert "maximumBatchingWindow" in event["sqs"]
    assert event["sqs"]["arn"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    assert worker["timeout"] < VISIBILITY_TIMEOUT

    env = sls["provider"]["environment"]
    assert env["SEAWALL_MAX_RECEIVES"] == str(MAX_RECEIVES)
    assert env["SEAWALL_AWS_PREFIX"] == "${param:prefix}"
    assert env["SEAWALL_CONFIG"] == "seawall.toml"
    # Each function runs under a role of its own, declared in the resources block.
    roles = {f["role"] for f in sls["functions"].values()}
    assert len(roles) == 3
    assert roles <= set(_by_type(sls["resources"]["Resources"], "AWS::IAM::Role"))


@pytest.mark.parametrize("which", ["sam", "sls"])
def test_queue_settings(which: str, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(which)
    resources = data["Resources"] if which == "sam" else data["resources"]["Resources"]
    main, dead = _queues(resources)
    assert main["VisibilityTimeout"] == VISIBILITY_TIMEOUT
    assert main["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVES
    dead_name = next(n for n, r in resources.items() if r.get("Properties") is dead)
    assert main["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dead_name, "Arn"]}
    # A dead letter outlives the queue's retention, which counts from the first enqueue.
    assert dead["MessageRetentionPeriod"] > main.get("MessageRetentionPeriod", 345600)


@pytest.mark.parametrize("which", ["sam", "sls"])
def test_every_table_has_ttl_and_recovery(which: str, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(which)
    resources = data["Resources"] if which == "sam" else data["resources"]["Resources"]
    tables = _by_type(resources, "AWS::DynamoDB::Table")
    assert len(tables) == 6
    for name, table in tables.items():
        props = table["Properties"]
        assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}, name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], name
        assert props["BillingMode"] == "PAY_PER_REQUEST", name


def _declared(resources: dict[str, Any], text: Any) -> dict[tuple[str, str], Any]:
    """(type, resolved name) of the queues, tables and topic, with each table's key schema."""
    name_of = {
        "AWS::SQS::Queue": "QueueName",
        "AWS::DynamoDB::Table": "TableName",
        "AWS::SNS::Topic": "TopicName",
    }
    declared: dict[tuple[str, str], Any] = {}
    for resource in resources.values():
        kind = resource["Type"]
        if kind not in name_of:
            continue
        props = resource["Properties"]
        keys = None
        if kind == "AWS::DynamoDB::Table":
            types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
            keys = [
                (k["AttributeName"], types[k["AttributeName"]], k["KeyType"])
                for k in props["KeySchema"]
            ]
        declared[(kind, text(props[name_of[kind]]))] = keys
    return declared


def test_both_declare_seawalls_resources(sam: dict[str, Any], sls: dict[str, Any]) -> None:
    names = AwsNames(PREFIX)
    commands = CommandTables.for_module(MODULE, env=ENV, app=APP)
    pk_sk = [("pk", "S", "HASH"), ("sk", "S", "RANGE")]
    # serverless.yml's defaults for the stage `dev` are this test's deployment.
    params = _sls_params()
    assert (params["prefix"], params["env"], params["app"], params["module"]) == (
        PREFIX,
        ENV,
        APP,
        MODULE,
    )
    expected = {
        ("AWS::SQS::Queue", names.queue): None,
        ("AWS::SQS::Queue", names.dead_letter_queue): None,
        ("AWS::DynamoDB::Table", names.inbox_table): [
            ("source", "S", "HASH"),
            ("event_id", "S", "RANGE"),
        ],
        ("AWS::DynamoDB::Table", names.idempotency_table): [("id", "S", "HASH")],
        ("AWS::DynamoDB::Table", commands.command): pk_sk,
        ("AWS::DynamoDB::Table", commands.data): pk_sk,
        ("AWS::DynamoDB::Table", commands.history): pk_sk,
        ("AWS::DynamoDB::Table", names.fleet_table): [("pk", "S", "HASH")],
        ("AWS::SNS::Topic", names.topic): None,
        ("AWS::SQS::Queue", f"{PREFIX}-command-sync-failures"): None,
    }
    assert _declared(sam["Resources"], _sam_text) == expected
    assert _declared(sls["resources"]["Resources"], _sls_text) == expected
    # The same logical ids too, so outputs and policies read alike.
    shared = set(sam["Resources"]) & set(sls["resources"]["Resources"])
    assert shared >= {
        "WebhookQueue",
        "WebhookDeadLetterQueue",
        "InboxTable",
        "IdempotencyTable",
        "CommandTable",
        "DataTable",
        "HistoryTable",
        "FleetTable",
        "CommandStatusTopic",
        SYNC_FAILURES,
    }


@pytest.mark.parametrize("which", ["sam", "sls"])
def test_outputs(which: str, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(which)
    outputs = data["Outputs"] if which == "sam" else data["resources"]["Outputs"]
    assert set(outputs) >= {
        "WebhookUrl",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "InboxTableName",
        "IdempotencyTableName",
        "CommandTableName",
        "DataTableName",
        "HistoryTableName",
        "FleetTableName",
    }


def _statements(policy_holder: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(policy_holder, dict):
        if "Effect" in policy_holder and "Action" in policy_holder:
            found.append(policy_holder)
        for value in policy_holder.values():
            found.extend(_statements(value))
    elif isinstance(policy_holder, list):
        for value in policy_holder:
            found.extend(_statements(value))
    return found


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    actions: set[str] = set()
    for statement in statements:
        action = statement["Action"]
        actions.update([action] if isinstance(action, str) else action)
    return actions


@pytest.mark.parametrize("which", ["sam", "sls"])
def test_least_privilege(which: str, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(which)
    if which == "sam":
        functions = _by_type(data["Resources"], "AWS::Serverless::Function").values()
        by_handler = {f["Properties"]["Handler"]: f["Properties"]["Policies"] for f in functions}
    else:
        resources = data["resources"]["Resources"]
        by_handler = {
            f["handler"]: resources[f["role"]]["Properties"]["Policies"]
            for f in data["functions"].values()
        }
    receiver = _statements(by_handler[RECEIVER_HANDLER])
    worker = _statements(by_handler[WORKER_HANDLER])
    sync = _statements(by_handler[SYNC_HANDLER])
    for statements in (receiver, worker, sync):
        assert all(s["Effect"] == "Allow" for s in statements)
        # No wildcard actions, and no statement on every resource.
        assert not any("*" in a for a in _actions(statements))
        assert all(s["Resource"] != "*" for s in statements)
    for statements in (receiver, worker):
        assert {"ssm:GetParameter", "kms:Decrypt", "dynamodb:ConditionCheckItem"} <= _actions(
            statements
        )
    assert "sqs:SendMessage" in _actions(receiver)
    assert "sns:Publish" not in _actions(receiver)
    assert "sns:Publish" in _actions(worker)
    assert "sqs:SendMessage" not in _actions(worker)


def _resources_of(statements: list[dict[str, Any]], action: str) -> list[Any]:
    """The resources of the statements allowing `action` (one list, references as loaded)."""
    found: list[Any] = []
    for statement in statements:
        actions = statement["Action"]
        if action in ([actions] if isinstance(actions, str) else actions):
            resource = statement["Resource"]
            found.extend(resource if isinstance(resource, list) else [resource])
    return found


def _sync_function(which: str, data: dict[str, Any]) -> dict[str, Any]:
    """The data-sync function, read alike from both files: its environment (with the
    globals), its one stream event's settings and its policy statements."""
    if which == "sam":
        functions = _by_type(data["Resources"], "AWS::Serverless::Function").values()
        props = next(
            f["Properties"] for f in functions if f["Properties"]["Handler"] == SYNC_HANDLER
        )
        (event,) = props["Events"].values()
        assert event["Type"] == "DynamoDB"
        e = event["Properties"]
        env = {
            **data["Globals"]["Function"]["Environment"]["Variables"],
            **props["Environment"]["Variables"],
        }
        return {
            "env": env,
            "stream": e["Stream"],
            "starting": e["StartingPosition"],
            "batch": e["BatchSize"],
            "bisect": e["BisectBatchOnFunctionError"],
            "retries": e["MaximumRetryAttempts"],
            "responses": e.get("FunctionResponseTypes", []),
            "on_failure": e["DestinationConfig"]["OnFailure"]["Destination"],
            "timeout": props["Timeout"],
            "statements": _statements(props["Policies"]),
        }
    fn = next(f for f in data["functions"].values() if f["handler"] == SYNC_HANDLER)
    (event,) = fn["events"]
    e = event["stream"]
    assert e["type"] == "dynamodb"
    assert e["destinations"]["onFailure"]["type"] == "sqs"
    role = data["resources"]["Resources"][fn["role"]]
    return {
        "env": {**data["provider"]["environment"], **fn["environment"]},
        "stream": e["arn"],
        "starting": e["startingPosition"],
        "batch": e["batchSize"],
        "bisect": e["bisectBatchOnFunctionError"],
        "retries": e["maximumRetryAttempts"],
        "responses": [e["functionResponseType"]] if "functionResponseType" in e else [],
        "on_failure": e["destinations"]["onFailure"]["arn"],
        "timeout": fn["timeout"],
        "statements": _statements(role["Properties"]["Policies"]),
    }


@pytest.mark.parametrize("which", ["sam", "sls"])
def test_the_data_sync_function(which: str, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(which)
    resources = data["Resources"] if which == "sam" else data["resources"]["Resources"]
    stream_view = resources["CommandTable"]["Properties"]["StreamSpecification"]
    assert stream_view == {"StreamViewType": "NEW_IMAGE"}
    for table in ("DataTable", "HistoryTable", "InboxTable", "IdempotencyTable"):
        assert "StreamSpecification" not in resources[table]["Properties"], table

    fn = _sync_function(which, data)
    assert fn["stream"] == {"Fn::GetAtt": ["CommandTable", "StreamArn"]}
    assert (fn["starting"], fn["batch"]) == ("LATEST", 10)
    # handle_stream_event raises without naming the failed record: the batch is retried,
    # bisected, a bounded number of times, then recorded; no partial batch response.
    assert fn["bisect"] is True
    assert 0 < fn["retries"] <= 10
    assert fn["responses"] == []
    assert fn["on_failure"] == {"Fn::GetAtt": [SYNC_FAILURES, "Arn"]}
    assert fn["timeout"] <= 120

    env = fn["env"]
    module, topic = env["SEAWALL_COMMAND_MODULE"], env["SEAWALL_COMMAND_TOPIC_ARN"]
    if which == "sam":
        assert (env["NODE_ENV"], env["APP_NAME"]) == ({"Ref": "Env"}, {"Ref": "App"})
        assert module == {"Ref": "Module"}
    else:
        assert (env["NODE_ENV"], env["APP_NAME"]) == ("${param:env}", "${param:app}")
        assert module == "${param:module}"
    assert topic == {"Ref": "CommandStatusTopic"}

    statements = fn["statements"]
    stream = {"Fn::GetAtt": ["CommandTable", "StreamArn"]}
    for action in (
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    ):
        assert _resources_of(statements, action) == [stream], action
    tables = [{"Fn::GetAtt": [t, "Arn"]} for t in ("CommandTable", "DataTable", "HistoryTable")]
    for action in (
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
    ):
        assert _resources_of(statements, action) == tables, action
    assert _resources_of(statements, "sns:Publish") == [{"Ref": "CommandStatusTopic"}]
    assert _resources_of(statements, "sqs:SendMessage") == [{"Fn::GetAtt": [SYNC_FAILURES, "Arn"]}]
    # Nothing of the webhook side: no inbox, queue or secrets.
    assert not {"ssm:GetParameter", "kms:Decrypt", "sqs:ReceiveMessage"} & _actions(statements)
    assert not any(
        r in ({"Fn::GetAtt": ["InboxTable", "Arn"]}, {"Fn::GetAtt": ["WebhookQueue", "Arn"]})
        for s in statements
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    )
