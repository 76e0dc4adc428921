"""The Lambda entry points: `webhook_handler` (HTTP) and `sqs_handler` (the SQS event source).

Point the functions' handlers at `seawall.aws.entry.webhook_handler` and
`seawall.aws.entry.sqs_handler` (template.yaml does). Each cold start reads, once:

- `SEAWALL_CONFIG`: the seawall.toml bundled with the function (default `seawall.toml`): its
  `[[webhooks]]` endpoints, their secret references and `handlers` modules;
- `SEAWALL_AWS_PREFIX`: the deployment's resource prefix (see `seawall.aws.resources`);
- `SEAWALL_AWS_FIFO`: `true` when the queue is FIFO;
- `SEAWALL_MAX_RECEIVES`: the queue's maxReceiveCount (default 3);
- `SEAWALL_OUTBOUND_MARGIN_MS`: the outbound deadline is the invocation's remaining time minus
  this (default 5000);
- `SEAWALL_QUEUE_URL`, `SEAWALL_DLQ_URL`: the queue URLs (looked up by name when unset).

`ssm:` and `secretsmanager:` references resolve through a cache (5 minutes). A delivery whose
signature fails makes the receiver re-read its endpoint's secrets (at most every 30 s per
secret) and try once more, so a rotated secret is picked up at once.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seawall.aws.clients import AwsClients
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

__all__ = ["AwsRuntime", "sqs_handler", "webhook_handler"]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(name, [f"{name} must be a whole number, got {raw!r}"]) from None


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
        prefix = os.environ.get("SEAWALL_AWS_PREFIX")
        if not prefix:
            raise ConfigError(
                "SEAWALL_AWS_PREFIX", ["set SEAWALL_AWS_PREFIX to the deployment's resource prefix"]
            )
        path = Path(os.environ.get("SEAWALL_CONFIG") or "seawall.toml")
        config = load_config(path)
        import_handlers(config, path)
        the_clients = clients if clients is not None else AwsClients()
        names = AwsNames(prefix, fifo=os.environ.get("SEAWALL_AWS_FIFO", "").lower() == "true")
        sqs = the_clients.sqs
        queue_url = (
            os.environ.get("SEAWALL_QUEUE_URL")
            or sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
        )
        dlq_url = (
            os.environ.get("SEAWALL_DLQ_URL")
            or sqs.get_queue_url(QueueName=names.dead_letter_queue)["QueueUrl"]
        )
        return cls(
            config=config,
            clients=the_clients,
            secrets=enable_aws_secrets(the_clients),
            names=names,
            queue=SqsQueue(the_clients, queue_url, dead_letter_url=dlq_url, fifo=names.fifo),
            inbox=DynamoInbox(
                the_clients,
                names.inbox_table,
                retention_s=config.worker.retention_s or None,
            ),
            max_receives=_env_int("SEAWALL_MAX_RECEIVES", 3),
            margin_s=_env_int("SEAWALL_OUTBOUND_MARGIN_MS", 5000) / 1000.0,
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


_lock = threading.Lock()
_built: dict[str, Any] = {}


def _handler(kind: str) -> Any:
    found = _built.get(kind)
    if found is None:
        with _lock:
            found = _built.get(kind)
            if found is None:
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


def reset() -> None:
    """Forget the built handlers (tests; a new environment takes effect at the next call)."""
    with _lock:
        runtime = _built.pop("runtime", None)
        _built.clear()
    if runtime is not None:
        runtime.secrets.disable()
