"""Kafka consumer of the regulator reports' impact figures: the sms-sender's message statuses
(sms.status). Only messages delayed past the threshold or failed are kept; a group of its own;
each write is idempotent, so a redelivery changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from incident.regulator_reports.service import RegulatorReportService
from vas_common.events.sms_sender import MessageStatusChanged
from vas_common.events.topics import SMS_STATUS
from vas_common.kafka import PoisonList, Subscription, decode_batch

GROUP_ID = "incident.sms-status"


def subscriptions(reports: RegulatorReportService) -> Sequence[Subscription]:
    async def on_status(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
        decoded, poison = decode_batch(records)
        await reports.record_statuses(
            [event.payload for event, _ in decoded if isinstance(event, MessageStatusChanged)]
        )
        return poison

    return (Subscription(GROUP_ID, (SMS_STATUS,), batch_handler=on_status),)
