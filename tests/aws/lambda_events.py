"""Real Lambda event documents: API Gateway REST (v1), HTTP API (v2), Function URL, and SQS."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from seawall.aws.sqs import SqsMessage, lambda_sqs_event


def http_v2(
    path: str, body: bytes, headers: dict[str, str], *, b64: bool = False
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) or Function URL event, as AWS documents it."""
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{source}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "id.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "provider/1.0",
            },
            "requestId": f"req-{uuid.uuid4().hex[:8]}",
            "routeKey": "POST /webhooks/{source}",
            "stage": "$default",
            "time": "04/Dec/2026:10:00:00 +0000",
            "timeEpoch": 1796378400000,
        },
        "pathParameters": {"source": path.rsplit("/", 1)[-1]},
        "body": base64.b64encode(body).decode() if b64 else body.decode(),
        "isBase64Encoded": b64,
    }


def rest_v1(
    path: str, body: bytes, headers: dict[str, str], *, b64: bool = False
) -> dict[str, Any]:
    """An API Gateway REST (payload 1.0) proxy event, with multi-value headers."""
    return {
        "resource": "/webhooks/{source}",
        "path": path,
        "httpMethod": "POST",
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "pathParameters": {"source": path.rsplit("/", 1)[-1]},
        "requestContext": {
            "requestId": f"req-{uuid.uuid4().hex[:8]}",
            "identity": {"sourceIp": "192.0.2.1"},
            "httpMethod": "POST",
            "path": f"/prod{path}",
            "stage": "prod",
        },
        "body": base64.b64encode(body).decode() if b64 else body.decode(),
        "isBase64Encoded": b64,
    }


def sqs_event(messages: list[SqsMessage], queue_arn: str) -> dict[str, Any]:
    """The SQS event Lambda's event source mapping delivers for received messages."""
    return lambda_sqs_event(messages, queue_arn)


class FakeLambdaContext:
    """The attributes of Lambda's context object a handler reads (no real Lambda runs here)."""

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.aws_request_id = f"lambda-{uuid.uuid4().hex[:8]}"
        self.function_name = "seawall-test"
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms
