"""Kafka consumers of complaints: users' SMS (a complaint by keyword, a reply to our texts)."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from complaints.complaint.service import ComplaintService
from vas_common.events import decode_event
from vas_common.events.sms_sender import MoReceived
from vas_common.events.topics import SMS_MO
from vas_common.kafka import Subscription


def subscriptions(service: ComplaintService) -> Sequence[Subscription]:
    async def on_mo(record: ConsumerRecord[bytes, bytes]) -> None:
        event = decode_event(record.value or b"")
        if isinstance(event, MoReceived):
            await service.handle_mo(event.payload)

    return (Subscription("complaints.sms-mo", (SMS_MO,), handler=on_mo),)
