"""Kafka consumers of the quality roll-ups: the sms-sender's message statuses (sms.status: send
delay and MT per second), the users' messages (sms.mo: MO per second) and the complaint clocks
breached (complaint.events). Groups of their own; a batch counts once whatever the redeliveries
(the watermark in `QualityService.record`)."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from incident.quality.service import Consumed, QualityService
from vas_common.events.complaints import SlaBreached
from vas_common.events.sms_sender import MessageStatusChanged, MoReceived
from vas_common.events.topics import COMPLAINT_EVENTS, SMS_MO, SMS_STATUS
from vas_common.kafka import BatchHandler, PoisonList, Subscription, decode_batch

STATUS_GROUP = "incident.quality-status"
MO_GROUP = "incident.quality-mo"
COMPLAINTS_GROUP = "incident.quality-complaints"


def subscriptions(quality: QualityService) -> Sequence[Subscription]:
    def handler(group_id: str) -> BatchHandler:
        async def on_batch(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
            decoded, poison = decode_batch(records)
            values = {
                record.offset: (
                    event.payload
                    if isinstance(event, MessageStatusChanged)
                    else event.payload.received_at
                    if isinstance(event, MoReceived)
                    else event.payload
                    if isinstance(event, SlaBreached)
                    else None
                )
                for event, record in decoded
            }
            # Every record (poison too) moves the watermark: each is counted at most once.
            batch = [Consumed(r.offset, values.get(r.offset)) for r in records]
            first = records[0]
            await quality.record(group_id, first.topic, first.partition, batch)
            return poison

        return on_batch

    return (
        Subscription(STATUS_GROUP, (SMS_STATUS,), batch_handler=handler(STATUS_GROUP)),
        Subscription(MO_GROUP, (SMS_MO,), batch_handler=handler(MO_GROUP)),
        Subscription(COMPLAINTS_GROUP, (COMPLAINT_EVENTS,), batch_handler=handler(COMPLAINTS_GROUP)),
    )
