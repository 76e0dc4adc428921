"""Which stores an operator works on, resolved in one place for the CLI and the dashboard.

A selection is a SQL store URL (`sqlite:///...`, `postgresql://...`) or `aws`: the deployment
the environment names (`seawall.aws.deployment`: `SEAWALL_AWS_PREFIX` and the other variables
the Lambda functions read, with AWS's own region, endpoint and credential variables).
`SEAWALL_OPS_STORE` gives the selection when no `--store` does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from seawall.config import SeawallConfig
from seawall.ops.breakers import REGISTRY, BreakerRegistry
from seawall.ops.errors import OperatorError
from seawall.ops.operator import Operator, check_schema
from seawall.store import open_store

__all__ = [
    "AWS",
    "SELECTION_ENV",
    "StoreSelectionError",
    "aws_operator",
    "open_operator",
    "selection_from_env",
]

AWS = "aws"
"""The selection of the AWS stores (DynamoDB inbox, SQS queue and dead-letter queue)."""
SELECTION_ENV = "SEAWALL_OPS_STORE"
"""The environment variable holding a selection (a store URL or `aws`)."""


class StoreSelectionError(OperatorError, ValueError):
    """The selection names no store this seawall can open."""


def aws_operator(*, registry: BreakerRegistry = REGISTRY) -> Operator:
    """The operator of the AWS deployment the environment names."""
    from seawall.aws.deployment import Deployment

    deployment = Deployment.from_environment()
    return Operator(
        deployment.inbox(), deployment.jobs(), registry=registry, replay=deployment.replay
    )


@contextlib.asynccontextmanager
async def open_operator(
    selection: str,
    *,
    config: SeawallConfig | None = None,
    registry: BreakerRegistry = REGISTRY,
) -> AsyncIterator[Operator]:
    """The operator of `selection`, its store open (and checked migrated) while in use.

    On a SQL store, `config`'s `[[webhooks]]` endpoints make replay possible.
    """
    if selection.strip().lower() == AWS:
        yield aws_operator(registry=registry)
        return
    try:
        store = open_store(selection)
    except ValueError as exc:
        raise StoreSelectionError(f"{exc} (or `{AWS}` for the AWS stores)") from None
    try:
        await check_schema(store)
        replay = None
        if config is not None:
            from seawall.webhooks import Webhooks

            replay = Webhooks.from_config(config, store).replay
        yield Operator.over_sql(store, registry=registry, replay=replay)
    finally:
        with contextlib.suppress(Exception):  # closing must not hide the real outcome
            await store.close()


def selection_from_env() -> str | None:
    """The selection `SEAWALL_OPS_STORE` gives, or None."""
    return os.environ.get(SELECTION_ENV) or None
