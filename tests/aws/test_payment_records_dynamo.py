"""Payment records on DynamoDB: the same read-merge-publish rules through `CommandApi`."""

from __future__ import annotations

import asyncio

import pytest
from tests.commands.helpers import CTX

from seawall.aws.clients import AwsClients
from seawall.aws.commands import DynamoCommandService
from seawall.aws.resources import AwsNames
from seawall.aws.transact import DynamoTx
from seawall.payments import GatewaySettings, PaymentGatewayService
from seawall.payments.records import PaymentRecords
from seawall.payments.state import PaymentUpdate
from seawall.testing import FakeClock


async def test_updates_merge_once_and_concurrent_writers_never_lose_state(
    aws: AwsClients, names: AwsNames
) -> None:
    service = DynamoCommandService(
        aws, module="pay", env="test", app=names.prefix, clock=FakeClock()
    )
    await service.create_tables()
    records = PaymentRecords(service)
    charged = PaymentUpdate("o1", "charge", status="success", transaction_id="pay_1", amount=100)
    first = await records.apply("t1", charged, invoke_context=CTX)
    assert first is not None and first.version == 1
    assert await records.apply("t1", charged, invoke_context=CTX) is None  # nothing new
    webhook = PaymentUpdate("o1", "webhook", status="success", event_id="evt_1")
    refund = PaymentUpdate("o1", "refund", status="refunded", refund_id="re_1", refund_amount=100)
    await asyncio.gather(
        records.apply("t1", webhook, invoke_context=CTX),
        records.apply("t1", refund, invoke_context=CTX),
    )
    record = await records.get("t1", "o1")
    assert record is not None
    assert record.status == "refunded" and record.transaction_id == "pay_1"


async def test_a_webhook_tx_it_cannot_join_is_left_to_the_mark_and_the_merge_stays_idempotent(
    aws: AwsClients, names: AwsNames
) -> None:
    service = DynamoCommandService(
        aws, module="pay", env="test", app=names.prefix, clock=FakeClock()
    )
    await service.create_tables()
    records = PaymentRecords(service)
    assert (
        not records.commands.joins_caller_transactions
    )  # DynamoDB publishes are TransactWriteItems of their own
    tx = DynamoTx(aws)  # the webhook's transaction: the worker adds the inbox mark to it
    paid = PaymentUpdate("o2", "webhook", status="success", transaction_id="pay_2", event_id="e1")
    first = await records.apply("t1", paid, invoke_context=CTX, tx=tx)
    assert first is not None and first.version == 1 and len(tx) == 0
    # The redelivery after a crash before the mark: the merge finds nothing new.
    assert await records.apply("t1", paid, invoke_context=CTX, tx=DynamoTx(aws)) is None
    record = await records.get("t1", "o2", tx=tx)
    assert record is not None and record.status == "success" and record.version == 1


def test_without_a_sql_store_the_service_needs_a_job_queue(
    aws: AwsClients, names: AwsNames
) -> None:
    service = DynamoCommandService(aws, module="pay", env="test", app=names.prefix)
    settings = GatewaySettings(url="literal:http://127.0.0.1:9", api_key="literal:sk_test")
    with pytest.raises(ValueError, match="pass queue="):
        PaymentGatewayService(settings, service)
