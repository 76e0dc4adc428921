"""The Lambda entry points: `webhook_handler` (HTTP), `sqs_handler` (the SQS event source) and
`command_stream_handler` (the command table's DynamoDB stream).

Point the functions' handlers at `seawall.aws.entry.webhook_handler`,
`seawall.aws.entry.sqs_handler` and `seawall.aws.entry.command_stream_handler` (template.yaml
does). The webhook functions' cold start reads, once:

- `SEAWALL_CONFIG`: the seawall.toml bundled with the function (default `seawall.toml`): its
  `[[webhooks]]` endpoints, their secret references and `handlers` modules;
- the deployment's `SEAWALL_AWS_PREFIX`, `SEAWALL_AWS_FIFO`, `SEAWALL_MAX_RECEIVES`,
  `SEAWALL_QUEUE_URL` and `SEAWALL_DLQ_URL` (`seawall.aws.deployment`, which `--store aws` of
  the CLI and the dashboard reads too);
- `SEAWALL_OUTBOUND_MARGIN_MS`: the outbound deadline is the invocation's remaining time minus
  this (default 5000);

`ssm:` and `secretsmanager:` references resolve through a cache (5 minutes). A delivery whose
signature fails makes the receiver re-read its endpoint's secrets (at most every 30 s per
secret) and try once more, so a rotated secret is picked up at once.

`command_stream_handler` syncs asynchronously published commands into the data and history
tables (`DynamoCommandService.handle_stream_event`). It needs none of the above; its cold start
reads, once:

- `NODE_ENV`, `APP_NAME`: the command tables' env and app (as the framework);
- `SEAWALL_COMMAND_MODULE` (required): the module, so the tables are
  `{NODE_ENV}-{APP_NAME}-{module}-command|data|history`;
- `SEAWALL_COMMAND_TOPIC_ARN`: when set, command status notifications go to this SNS topic
  (`SnsNotifier`), and `sfn-alarm` notifications to `SEAWALL_ALARM_TOPIC_ARN` when that is set
  too;
- `SEAWALL_DATA_SYNC_HANDLERS`: a module to import, then call its `register(service)`
  (`module:function` names another function), which registers the data-sync handlers
  (`service.register_data_sync_handler(...)`, see `DynamoDataSyncHandler`) and may add
  notifiers.

A failed sync raises, so Lambda retries the batch (`handle_stream_event` does not tell which
record failed, so there is no partial batch response: do not enable `ReportBatchItemFailures`;
use `BisectBatchOnFunctionError`, a maximum retry count and an on-failure destination).
Syncing again is idempotent. A successful call answers `{"synced": <commands synced>}`.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seawall.aws.clients import AwsClients
from seawall.aws.commands import DynamoCommandService, SnsNotifier
from seawall.aws.deployment import Deployment, env_int
from seawall.aws.inbox import DynamoInbox
from seawall.aws.receiver import LambdaWebhookReceiver
from seawall.aws.resources import AwsNames
from seawall.aws.secrets import AwsSecretResolvers, enable_aws_secrets
from seawall.aws.sqs import SqsQueue
from seawall.aws.worker import SqsWebhookWorker
from seawall.config import ConfigError, SeawallConfig, import_handlers, load_config
from seawall.secrets import Secret
from seawall.webhooks.endpoint import WebhookEndpoint
from seawall.webhooks.router import default_router

__all__ = [
    "AwsRuntime",
    "CommandStreamHandler",
    "command_stream_handler",
    "sqs_handler",
    "webhook_handler",
]


@dataclass
class AwsRuntime:
    """What one Lambda container builds at its cold start (see the module docstring)."""

    config: SeawallConfig
    clients: AwsClients
    secrets: AwsSecretResolvers
    names: AwsNames
    queue: SqsQueue
    inbox: DynamoInbox
    max_receives: int
    margin_s: float

    @classmethod
    def from_environment(cls, clients: AwsClients | None = None) -> AwsRuntime:
        """Read the environment and the bundled configuration; import the handler modules."""
        deployment = Deployment.from_environment(clients)
        path = Path(os.environ.get("SEAWALL_CONFIG") or "seawall.toml")
        config = load_config(path)
        import_handlers(config, path)
        return cls(
            config=config,
            clients=deployment.clients,
            secrets=enable_aws_secrets(deployment.clients),
            names=deployment.names,
            queue=deployment.queue,
            inbox=deployment.inbox(retention_s=config.worker.retention_s or None),
            max_receives=deployment.max_receives,
            margin_s=env_int("SEAWALL_OUTBOUND_MARGIN_MS", 5000) / 1000.0,
        )

    def endpoints(self) -> list[WebhookEndpoint]:
        """The configured endpoints, their secrets resolved (through the cache)."""
        return [WebhookEndpoint.from_config(entry) for entry in self.config.webhooks]

    def rotated(self, endpoint: WebhookEndpoint) -> WebhookEndpoint | None:
        """The endpoint with re-read secrets when any of them changed since it was built."""
        entry = next((e for e in self.config.webhooks if e.source == endpoint.source), None)
        if entry is None:
            return None
        changed = False
        for reference in entry.secrets:
            if not reference.startswith(("ssm:", "secretsmanager:", "${")):
                continue
            fresh = self.secrets.refresh_after_failure(reference)
            if fresh is not None and all(fresh.value != _text(s) for s in endpoint.secrets):
                changed = True
        return WebhookEndpoint.from_config(entry) if changed else None

    def receiver(self) -> LambdaWebhookReceiver:
        """The HTTP function's handler."""
        return LambdaWebhookReceiver(
            self.endpoints(), self.inbox, self.queue, on_bad_signature=self.rotated
        )

    def worker(self) -> SqsWebhookWorker:
        """The SQS function's handler."""
        return SqsWebhookWorker(
            default_router,
            self.inbox,
            self.queue,
            max_receives=self.max_receives,
            margin_s=self.margin_s,
        )


def _text(secret: Secret | str | bytes) -> str:
    if isinstance(secret, Secret):
        return secret.value
    return secret.decode() if isinstance(secret, bytes) else secret


class CommandStreamHandler:
    """A Lambda handler `(event, context) -> {"synced": n}` for the command table's stream.

    Runs `service.handle_stream_event(event)` on an event loop kept across warm invocations;
    a failure raises (Lambda retries the batch).
    """

    def __init__(self, service: DynamoCommandService) -> None:
        self.service = service
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_environment(cls, clients: AwsClients | None = None) -> CommandStreamHandler:
        """Build the service from the environment (see the module docstring) and register the
        data-sync handlers."""
        module = os.environ.get("SEAWALL_COMMAND_MODULE")
        if not module:
            raise ConfigError(
                "SEAWALL_COMMAND_MODULE",
                [
                    "set SEAWALL_COMMAND_MODULE to the command module whose table's stream this "
                    "function reads (tables {NODE_ENV}-{APP_NAME}-{module}-command|data|history)"
                ],
            )
        the_clients = clients if clients is not None else AwsClients()
        try:
            service = DynamoCommandService(the_clients, module=module)
        except ValueError as exc:
            raise ConfigError("SEAWALL_COMMAND_MODULE", [str(exc)]) from None
        topic = os.environ.get("SEAWALL_COMMAND_TOPIC_ARN")
        if topic:
            alarms = os.environ.get("SEAWALL_ALARM_TOPIC_ARN") or None
            service.add_notifier(SnsNotifier(the_clients, topic, alarm_topic_arn=alarms))
        registration = os.environ.get("SEAWALL_DATA_SYNC_HANDLERS")
        if registration:
            _registration(registration)(service)
        return cls(service)

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()  # kept across warm invocations
        synced = self._loop.run_until_complete(self.service.handle_stream_event(event))
        return {"synced": synced}

    def close(self) -> None:
        """Close the kept event loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()


def _registration(name: str) -> Callable[[DynamoCommandService], Any]:
    """The `register(service)` function named by SEAWALL_DATA_SYNC_HANDLERS (`module` or
    `module:function`)."""
    variable = "SEAWALL_DATA_SYNC_HANDLERS"
    module_name, _, attribute = name.partition(":")
    attribute = attribute or "register"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            variable,
            [
                f"cannot import {module_name!r} ({type(exc).__name__}: {exc}); bundle the module "
                "with the function or fix the name"
            ],
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(
            variable,
            [
                f"module {module_name!r} has no function {attribute}(service) registering its "
                "data-sync handlers"
            ],
        )
    return function  # type: ignore[no-any-return]


_lock = threading.Lock()
_built: dict[str, Any] = {}


def _handler(kind: str) -> Any:
    found = _built.get(kind)
    if found is None:
        with _lock:
            found = _built.get(kind)
            if found is None and kind == "commands":
                found = _built[kind] = CommandStreamHandler.from_environment()
            elif found is None:
                runtime = _built.get("runtime")
                if runtime is None:
                    runtime = _built["runtime"] = AwsRuntime.from_environment()
                found = _built[kind] = runtime.receiver() if kind == "http" else runtime.worker()
    return found


def webhook_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The receiver function's handler (API Gateway v1/v2 or a Function URL)."""
    result: dict[str, Any] = _handler("http")(event, context)
    return result


def sqs_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The worker function's handler (SQS event source with ReportBatchItemFailures)."""
    result: dict[str, Any] = _handler("sqs")(event, context)
    return result


def command_stream_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The data-sync function's handler (the command table's DynamoDB stream, NEW_IMAGE): syncs
    the batch's async commands; raises on a failure so Lambda retries the batch."""
    result: dict[str, Any] = _handler("commands")(event, context)
    return result


def reset() -> None:
    """Forget the built handlers (tests; a new environment takes effect at the next call)."""
    with _lock:
        runtime = _built.pop("runtime", None)
        commands = _built.pop("commands", None)
        _built.clear()
    if runtime is not None:
        runtime.secrets.disable()
    if commands is not None:
        commands.close()
