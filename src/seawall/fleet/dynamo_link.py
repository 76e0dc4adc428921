"""The DynamoDB side of the fleet stores: a client that fails fast, and the table they share."""

from __future__ import annotations

from typing import Any

__all__ = ["dynamo_client", "ensure_fleet_table", "is_conflict"]


def dynamo_client(region: str | None, endpoint_url: str | None, timeout_s: float) -> Any:
    """A low-level boto3 DynamoDB client whose calls give up after `timeout_s`, unretried (the
    store's thread tries again at its next sync; a caller falls back to local state meanwhile)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ImportError(
            "the DynamoDB fleet store needs boto3: pip install 'seawall[aws]'"
        ) from None
    config = Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return boto3.session.Session().client(
        "dynamodb", region_name=region or "us-east-1", endpoint_url=endpoint_url, config=config
    )


def ensure_fleet_table(client: Any, table: str) -> None:
    """Create the fleet table (key `pk`, PAY_PER_REQUEST, TTL on `ttl`) unless it exists."""
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.05})
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


def is_conflict(exc: BaseException) -> bool:
    """True for a conditional write that lost to another process's write."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")
