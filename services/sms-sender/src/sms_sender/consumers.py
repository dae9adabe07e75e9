"""Kafka consumers of the sms-sender."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord
from vas_common.app import Runtime
from vas_common.events import Event
from vas_common.events.subscription import PartnerCreated, PartnerKeyRotated, PartnerStatusChanged
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.kafka import Subscription, event_handler

from sms_sender.service import PartnerDirectory

PARTNER_EVENTS = (PartnerCreated, PartnerKeyRotated, PartnerStatusChanged)


def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
    directory = PartnerDirectory(runtime.db())

    async def on_subscription_event(event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if isinstance(event, PARTNER_EVENTS):
            await directory.apply(event.payload)

    return (
        Subscription(
            group_id="sms-sender.subscription-events",
            topics=(SUBSCRIPTION_EVENTS,),
            handler=event_handler(on_subscription_event),
        ),
    )
