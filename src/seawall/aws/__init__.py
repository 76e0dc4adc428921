"""The AWS serverless mode: SQS queue, DynamoDB inbox and transactions, Lambda entry points.

Install it with `pip install 'seawall[aws]'` (boto3). Layout:

- `clients`: boto3 clients per process, with a count of the AWS API calls made;
- `resources`: a deployment's resource names, and creating them (tests, the demo);
- `sqs`: the queue on SQS; `inbox`: the webhook inbox on DynamoDB; `transact`: one
  TransactWriteItems for a handler's effects and its inbox mark;
- `receiver` and `worker`: the Lambda handlers; `entry`: the functions' entry points;
- `poller`: Lambda's SQS event source mapping played by a process (`python -m
  seawall.aws.poller`);
- `commands`: the command service on DynamoDB, and `SnsNotifier` for command notifications;
- `secrets`: `ssm:` and `secretsmanager:` references; `local`: moto's server for tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seawall._lazy import load_export

if TYPE_CHECKING:
    from seawall.aws.clients import AwsClients
    from seawall.aws.commands import DynamoCommandService, SnsNotifier
    from seawall.aws.inbox import DynamoInbox
    from seawall.aws.receiver import LambdaWebhookReceiver
    from seawall.aws.resources import AwsNames, ensure_resources
    from seawall.aws.secrets import enable_aws_secrets
    from seawall.aws.sqs import SqsQueue
    from seawall.aws.transact import DynamoTx, TransactionCancelledError
    from seawall.aws.worker import SqsWebhookWorker

__all__ = [
    "AwsClients",
    "AwsNames",
    "DynamoCommandService",
    "DynamoInbox",
    "DynamoTx",
    "LambdaWebhookReceiver",
    "SnsNotifier",
    "SqsQueue",
    "SqsWebhookWorker",
    "TransactionCancelledError",
    "enable_aws_secrets",
    "ensure_resources",
]

_HOMES = {
    "AwsClients": "seawall.aws.clients",
    "AwsNames": "seawall.aws.resources",
    "DynamoCommandService": "seawall.aws.commands",
    "SnsNotifier": "seawall.aws.commands",
    "DynamoInbox": "seawall.aws.inbox",
    "DynamoTx": "seawall.aws.transact",
    "LambdaWebhookReceiver": "seawall.aws.receiver",
    "SqsQueue": "seawall.aws.sqs",
    "SqsWebhookWorker": "seawall.aws.worker",
    "TransactionCancelledError": "seawall.aws.transact",
    "enable_aws_secrets": "seawall.aws.secrets",
    "ensure_resources": "seawall.aws.resources",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    return load_export(__name__, _HOMES, name, globals())


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(set(globals()) | set(__all__))
