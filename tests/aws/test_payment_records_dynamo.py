"""Payment records on DynamoDB: the same read-merge-publish rules through `CommandApi`."""

from __future__ import annotations

import asyncio

from tests.commands.helpers import CTX

from seawall.aws.clients import AwsClients
from seawall.aws.commands import DynamoCommandService
from seawall.aws.resources import AwsNames
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
