"""Kafka consumers of the signals: the sms-sender's health reports."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from incident.signals.service import SignalService
from vas_common.events import decode_event
from vas_common.events.sms_sender import HealthReported
from vas_common.events.topics import SMS_HEALTH
from vas_common.kafka import Subscription


def subscriptions(service: SignalService) -> Sequence[Subscription]:
    async def on_health(record: ConsumerRecord[bytes, bytes]) -> None:
        event = decode_event(record.value or b"")
        if isinstance(event, HealthReported):
            await service.handle(event.payload)

    return (Subscription("incident.sms-health", (SMS_HEALTH,), handler=on_health),)
