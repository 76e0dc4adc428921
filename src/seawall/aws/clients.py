"""The AWS SDK clients the AWS mode uses, made once per process, and a count of the calls made.

`AwsClients` builds boto3 clients lazily (Lambda keeps them across warm invocations) for one
region and, in tests and `seawall demo --store aws`, one local endpoint. `calls` counts the AWS
API calls by operation, which is what a user pays for; the benchmarks report it per webhook and
per job.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AwsClients", "AwsModeMissingError", "new_session", "require_boto3"]


class AwsModeMissingError(ImportError):
    """The AWS mode's dependency (boto3) is not installed."""


def require_boto3() -> Any:
    """The boto3 module, or AwsModeMissingError saying which extra to install."""
    try:
        import boto3
    except ImportError:
        raise AwsModeMissingError("the AWS mode needs boto3: pip install 'seawall[aws]'") from None
    return boto3


_loader: Any = None
_loader_lock = threading.Lock()


def new_session() -> Any:
    """A new SDK session (credentials and settings resolved for it alone) reading the SDK's data
    files through the one loader of this process, so that the endpoint and API model files, which
    take tens of milliseconds each to parse, are parsed once per process rather than per client."""
    global _loader
    require_boto3()
    import botocore.session

    session = botocore.session.get_session()
    with _loader_lock:
        if _loader is None:
            _loader = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _loader)
    return session


@dataclass
class AwsClients:
    """Lazily made boto3 clients for `region` (and `endpoint_url`, for a local endpoint).

    Without a region, AWS_REGION or AWS_DEFAULT_REGION is used, as in Lambda.
    """

    region: str | None = None
    endpoint_url: str | None = None
    calls: Counter[str] = field(default_factory=Counter)
    """AWS API calls made through these clients, by `service.Operation`."""
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.region is None:
            self.region = (
                os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            )

    def client(self, service: str) -> Any:
        """The boto3 client for `service` ("sqs", "dynamodb", "sns", "ssm", "secretsmanager")."""
        found = self._clients.get(service)
        if found is not None:
            return found
        with self._lock:
            found = self._clients.get(service)
            if found is None:
                found = new_session().create_client(
                    service, region_name=self.region, endpoint_url=self.endpoint_url
                )
                found.meta.events.register("before-call", self._count)
                self._clients[service] = found
        return found

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    @property
    def sqs(self) -> Any:
        """The SQS client."""
        return self.client("sqs")

    @property
    def dynamodb(self) -> Any:
        """The DynamoDB client (low level: typed attribute values)."""
        return self.client("dynamodb")

    @property
    def sns(self) -> Any:
        """The SNS client."""
        return self.client("sns")

    def total_calls(self) -> int:
        """Every AWS API call made so far."""
        return sum(self.calls.values())
