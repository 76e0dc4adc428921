"""Idempotency records in DynamoDB: the store (`store`), its async view (`aio`), the item
shape (`items`) and the Lambda decorator (`handler`)."""

from __future__ import annotations

from seawall.aws.idempotency.aio import AsyncDynamoIdempotencyStore
from seawall.aws.idempotency.handler import idempotent_lambda
from seawall.aws.idempotency.items import MAX_RESULT_BYTES
from seawall.aws.idempotency.store import DynamoIdempotencyStore, LambdaContextLike

__all__ = [
    "MAX_RESULT_BYTES",
    "AsyncDynamoIdempotencyStore",
    "DynamoIdempotencyStore",
    "LambdaContextLike",
    "idempotent_lambda",
]
