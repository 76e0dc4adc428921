"""A real AWS API endpoint for the AWS mode's tests: moto's server on 127.0.0.1, one per run."""

from __future__ import annotations

import itertools
import os

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from seawall.aws.clients import AwsClients
from seawall.aws.resources import AwsNames, QueueUrls, ensure_resources

_numbers = itertools.count(1)


@pytest.fixture
def aws(aws_endpoint: str) -> AwsClients:
    """Fresh clients (with a fresh call counter) against the local endpoint."""
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    return AwsClients(region="us-east-1", endpoint_url=aws_endpoint)


@pytest.fixture
def names() -> AwsNames:
    """Resource names no other test uses."""
    return AwsNames(f"t{os.getpid()}-{next(_numbers)}")


@pytest.fixture
def resources(aws: AwsClients, names: AwsNames) -> QueueUrls:
    """The deployment's queues, tables and topic, created for this test (maxReceiveCount 3)."""
    urls = ensure_resources(aws, names, max_receives=3, visibility_timeout_s=60)
    aws.calls.clear()
    return urls
