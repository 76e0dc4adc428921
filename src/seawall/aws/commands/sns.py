"""`SnsNotifier`: command status notifications and alarms published to SNS."""

from __future__ import annotations

import asyncio
import json

from seawall.aws.clients import AwsClients
from seawall.commands.rules import CommandNotification

__all__ = ["SnsNotifier"]


class SnsNotifier:
    """A notification hook (`add_notifier`, SQL or DynamoDB service) publishing to SNS.

    The message is the framework's: `Message` is the JSON of the INotification (`action`,
    `pk`, `sk`, `table`, `id`, `tenantCode`, `content`) and the message attribute `action`
    carries the action for subscription filters. `sfn-alarm` notifications go to
    `alarm_topic_arn` when given (the framework's SNS_ALARM_TOPIC_ARN), the rest to `topic_arn`
    (SNS_TOPIC_ARN). One Publish call per notification.
    """

    def __init__(
        self, clients: AwsClients, topic_arn: str, *, alarm_topic_arn: str | None = None
    ) -> None:
        self.clients = clients
        self.topic_arn = topic_arn
        self.alarm_topic_arn = alarm_topic_arn

    def publish(self, note: CommandNotification) -> str:
        """Publish `note` now (blocking); the SNS message id."""
        topic = self.topic_arn
        if note.action == "sfn-alarm" and self.alarm_topic_arn:
            topic = self.alarm_topic_arn
        answer = self.clients.sns.publish(
            TopicArn=topic,
            Message=json.dumps(note.to_message(), ensure_ascii=False),
            MessageAttributes={"action": {"DataType": "String", "StringValue": note.action}},
        )
        return str(answer["MessageId"])

    async def __call__(self, note: CommandNotification) -> None:
        """Publish `note` from a worker thread."""
        await asyncio.to_thread(self.publish, note)
